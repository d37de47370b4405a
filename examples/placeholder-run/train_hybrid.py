"""Task 2.3.3: train the GNN-ViT hybrid for embryo segmentation.

Run on the training VM:  python train_hybrid.py --steps 2000 --log-dir runs/hybrid
"""

from __future__ import annotations

import argparse
import os

import torch
from torch import nn
from torch.utils.tensorboard import SummaryWriter


class SimpleGNNViTHybrid(nn.Module):
    """Simplified stand-in for the GNN-ViT hybrid, small enough to train quickly on the VM.

    Graph nodes and image patches are each projected and mean-pooled, then a small MLP head
    predicts one probability per sample.
    """

    def __init__(self, node_dim: int = 16, patch_dim: int = 48, hidden: int = 64):
        super().__init__()
        self.graph_proj = nn.Linear(node_dim, hidden)
        self.patch_proj = nn.Linear(patch_dim, hidden)
        self.head = nn.Sequential(
            nn.Linear(2 * hidden, hidden),
            nn.ReLU(),
            nn.Linear(hidden, 1),
            nn.Sigmoid(),
        )

    def forward(self, nodes: torch.Tensor, patches: torch.Tensor) -> torch.Tensor:
        graph = torch.relu(self.graph_proj(nodes)).mean(dim=1)
        image = torch.relu(self.patch_proj(patches)).mean(dim=1)
        return self.head(torch.cat([graph, image], dim=-1)).squeeze(-1)


def generate_synthetic_data(batch_size: int, num_nodes: int = 12, node_dim: int = 16,
                            num_patches: int = 16, patch_dim: int = 48):
    """A batch of node features, image patches and binary labels."""
    nodes = torch.randn(batch_size, num_nodes, node_dim)
    patches = torch.randn(batch_size, num_patches, patch_dim)
    labels = torch.randint(0, 2, (batch_size,)).float()
    return nodes, patches, labels


def train(steps: int = 2000, batch_size: int = 32, lr: float = 1e-3, log_dir: str = "runs/hybrid",
          log_interval: int = 100, checkpoint_path: str = "checkpoints/gnn_vit_hybrid_final.pth") -> nn.Module:
    model = SimpleGNNViTHybrid()
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    criterion = nn.BCELoss()
    writer = SummaryWriter(log_dir)

    model.train()
    for step in range(1, steps + 1):
        nodes, patches, labels = generate_synthetic_data(batch_size)
        optimizer.zero_grad()
        preds = model(nodes, patches)
        loss = criterion(preds, labels)
        loss.backward()
        optimizer.step()

        if step % log_interval == 0:
            writer.add_scalar("train/bce_loss", loss.item(), step)
            print(f"step {step}/{steps}  loss {loss.item():.4f}")

    writer.flush()
    writer.close()

    os.makedirs(os.path.dirname(checkpoint_path) or ".", exist_ok=True)
    torch.save(model.state_dict(), checkpoint_path)
    print(f"saved {checkpoint_path}")
    return model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--log-dir", default="runs/hybrid")
    parser.add_argument("--log-interval", type=int, default=100)
    parser.add_argument("--checkpoint", default="checkpoints/gnn_vit_hybrid_final.pth")
    args = parser.parse_args()
    train(args.steps, args.batch_size, args.lr, args.log_dir, args.log_interval, args.checkpoint)


if __name__ == "__main__":
    main()
