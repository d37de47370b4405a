"""Procedural embryo data: an image of an early-stage cell cluster, its cell-contact graph and its mask.

The generator is the project's declared data source. It draws random embryo configurations (cell count,
positions, sizes, brightness, imaging noise) from a seeded NumPy generator and renders them, so every
sample has a consistent image, ground-truth segmentation mask and cell graph.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

NODE_FEATURES = 5  # x, y, radius, brightness, is_real_cell


@dataclass
class EmbryoSample:
    image: np.ndarray  # (1, H, W) float32 in [0, 1]
    mask: np.ndarray  # (1, H, W) float32, 1 inside a cell
    node_features: np.ndarray  # (max_cells, NODE_FEATURES) float32, zero rows for padding
    adjacency: np.ndarray  # (max_cells, max_cells) float32, 1 where two cells touch
    num_cells: int


class SyntheticEmbryoDataGenerator:
    """Renders embryos from the 2-cell to the `max_cells`-cell stage.

    Cells are discs packed on a ring around the embryo centre (a single cell sits at the centre); two
    cells are neighbours in the graph when their discs touch. The image is the mask shaded by each
    cell's brightness, a faint zona pellucida ring, and Gaussian imaging noise.
    """

    def __init__(self, image_size: int = 32, max_cells: int = 8, noise: float = 0.05, seed: int = 0):
        if image_size < 16:
            raise ValueError("image_size must be at least 16 pixels")
        self.image_size = image_size
        self.max_cells = max_cells
        self.noise = noise
        self.rng = np.random.default_rng(seed)
        coords = np.arange(image_size, dtype=np.float32) + 0.5
        self._yy, self._xx = np.meshgrid(coords, coords, indexing="ij")

    def sample(self) -> EmbryoSample:
        size = self.image_size
        n = int(self.rng.integers(2, self.max_cells + 1))
        centre = size / 2 + self.rng.normal(0.0, size * 0.03, size=2)
        ring = size * (0.12 + 0.02 * n)
        angles = np.linspace(0.0, 2 * np.pi, n, endpoint=False) + self.rng.uniform(0, 2 * np.pi)
        xs = centre[0] + ring * np.cos(angles) + self.rng.normal(0, size * 0.01, n)
        ys = centre[1] + ring * np.sin(angles) + self.rng.normal(0, size * 0.01, n)
        # neighbouring cells on the ring are roughly a chord apart; make them overlap slightly
        chord = 2 * ring * np.sin(np.pi / n)
        radii = np.clip(chord * self.rng.uniform(0.5, 0.6, n), size * 0.06, size * 0.22)
        brightness = self.rng.uniform(0.55, 0.95, n)

        image = np.zeros((size, size), dtype=np.float32)
        mask = np.zeros((size, size), dtype=np.float32)
        for x, y, r, b in zip(xs, ys, radii, brightness):
            inside = (self._xx - x) ** 2 + (self._yy - y) ** 2 <= r**2
            mask[inside] = 1.0
            image[inside] = np.maximum(image[inside], b)
        zona = np.abs(np.hypot(self._xx - centre[0], self._yy - centre[1]) - (ring + radii.max() + 1.5)) < 0.8
        image[zona & (mask == 0)] = 0.25
        image += self.rng.normal(0.0, self.noise, image.shape).astype(np.float32)
        image = np.clip(image, 0.0, 1.0)

        features = np.zeros((self.max_cells, NODE_FEATURES), dtype=np.float32)
        features[:n] = np.stack([xs / size, ys / size, radii / size, brightness, np.ones(n)], axis=1)
        dist = np.hypot(xs[:, None] - xs[None, :], ys[:, None] - ys[None, :])
        touching = (dist <= (radii[:, None] + radii[None, :]) * 1.05) & ~np.eye(n, dtype=bool)
        adjacency = np.zeros((self.max_cells, self.max_cells), dtype=np.float32)
        adjacency[:n, :n] = touching

        return EmbryoSample(image[None], mask[None], features, adjacency, n)

    def batch(self, batch_size: int) -> dict[str, torch.Tensor]:
        """`batch_size` fresh samples stacked into tensors, ready for `GNNViTHybrid`."""
        samples = [self.sample() for _ in range(batch_size)]
        node_features = torch.from_numpy(np.stack([s.node_features for s in samples]))
        return {
            "image": torch.from_numpy(np.stack([s.image for s in samples])),
            "mask": torch.from_numpy(np.stack([s.mask for s in samples])),
            "node_features": node_features,
            "adjacency": torch.from_numpy(np.stack([s.adjacency for s in samples])),
            "node_mask": node_features[..., -1] > 0,
        }
