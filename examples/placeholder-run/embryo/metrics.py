"""Segmentation metrics for embryo masks."""

from __future__ import annotations

import torch


def dice_score(pred: torch.Tensor, target: torch.Tensor, threshold: float = 0.5, eps: float = 1e-6) -> float:
    """Mean Dice coefficient over the batch.

    `pred` holds probabilities (or a binary mask) and `target` a binary mask, both shaped (B, 1, H, W).
    """
    pred = (pred > threshold).float().flatten(1)
    target = target.float().flatten(1)
    intersection = (pred * target).sum(dim=1)
    total = pred.sum(dim=1) + target.sum(dim=1)
    return ((2 * intersection + eps) / (total + eps)).mean().item()
