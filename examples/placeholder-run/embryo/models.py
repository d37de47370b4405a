"""GNNViTHybrid: segments embryo images using both the image and the cell-contact graph.

* a ViT-style encoder turns the image into patch tokens (patch embedding + transformer encoder);
* a message-passing GNN summarises the cell graph into one embedding per embryo;
* a fusion head combines every patch token with the graph embedding and predicts that patch's pixels.
"""

from __future__ import annotations

import torch
from torch import nn

from embryo.data import NODE_FEATURES


class MessagePassingLayer(nn.Module):
    """h_i' = ReLU(W_self h_i + W_neigh * mean_{j in N(i)} h_j)."""

    def __init__(self, dim: int):
        super().__init__()
        self.self_lin = nn.Linear(dim, dim)
        self.neigh_lin = nn.Linear(dim, dim, bias=False)

    def forward(self, h: torch.Tensor, adjacency: torch.Tensor) -> torch.Tensor:
        degree = adjacency.sum(dim=-1, keepdim=True).clamp(min=1.0)
        messages = adjacency @ h / degree
        return torch.relu(self.self_lin(h) + self.neigh_lin(messages))


class GraphEncoder(nn.Module):
    def __init__(self, in_dim: int, dim: int, num_layers: int = 2):
        super().__init__()
        self.input = nn.Linear(in_dim, dim)
        self.layers = nn.ModuleList(MessagePassingLayer(dim) for _ in range(num_layers))

    def forward(self, x: torch.Tensor, adjacency: torch.Tensor, node_mask: torch.Tensor) -> torch.Tensor:
        h = torch.relu(self.input(x))
        for layer in self.layers:
            h = layer(h, adjacency)
        weights = node_mask.float().unsqueeze(-1)
        return (h * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1.0)


class PatchViT(nn.Module):
    def __init__(self, image_size: int, patch_size: int, dim: int, depth: int = 2, heads: int = 2):
        super().__init__()
        if image_size % patch_size:
            raise ValueError("image_size must be a multiple of patch_size")
        num_patches = (image_size // patch_size) ** 2
        self.patch_embed = nn.Conv2d(1, dim, kernel_size=patch_size, stride=patch_size)
        self.pos_embed = nn.Parameter(torch.zeros(1, num_patches, dim))
        nn.init.trunc_normal_(self.pos_embed, std=0.02)
        layer = nn.TransformerEncoderLayer(dim, heads, dim_feedforward=2 * dim, dropout=0.0, batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, depth)
        self.norm = nn.LayerNorm(dim)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        tokens = self.patch_embed(image).flatten(2).transpose(1, 2)  # (B, P, dim)
        return self.norm(self.encoder(tokens + self.pos_embed))


class GNNViTHybrid(nn.Module):
    """Predicts per-pixel cell-mask logits, shaped like the input image."""

    def __init__(self, image_size: int = 32, patch_size: int = 4, dim: int = 32, node_features: int = NODE_FEATURES):
        super().__init__()
        self.image_size = image_size
        self.patch_size = patch_size
        self.vit = PatchViT(image_size, patch_size, dim)
        self.gnn = GraphEncoder(node_features, dim)
        self.fusion = nn.Sequential(
            nn.Linear(2 * dim, dim),
            nn.GELU(),
            nn.Linear(dim, patch_size * patch_size),
        )

    def forward(self, image, node_features, adjacency, node_mask):
        tokens = self.vit(image)
        graph = self.gnn(node_features, adjacency, node_mask)
        fused = torch.cat([tokens, graph.unsqueeze(1).expand_as(tokens)], dim=-1)
        patch_logits = self.fusion(fused)  # (B, P, patch*patch)
        b, grid, p = image.shape[0], self.image_size // self.patch_size, self.patch_size
        logits = patch_logits.view(b, grid, grid, p, p).permute(0, 1, 3, 2, 4)
        return logits.reshape(b, 1, grid * p, grid * p)
