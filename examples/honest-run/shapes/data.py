"""The shapes dataset, read from data/shapes.npz (built by make_dataset.py from shapes.generate)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from shapes.generate import CLASSES

__all__ = ["CLASSES", "ShapesDataset"]


class ShapesDataset(Dataset):
    """One split ("train" or "val") of the shapes file: (1, H, W) float images in [0, 1] and class ids."""

    def __init__(self, path: str | Path, split: str = "train"):
        if split not in ("train", "val"):
            raise ValueError(f"split must be 'train' or 'val', got {split!r}")
        with np.load(path) as archive:
            self.images = torch.from_numpy(archive[f"{split}_images"]).float().div_(255).unsqueeze(1)
            self.labels = torch.from_numpy(archive[f"{split}_labels"]).long()

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.images[index], self.labels[index]
