"""The procedural generator behind data/shapes.npz.

Each image is one filled shape (circle, square, triangle or cross) of random size, position and
brightness on a dark background, plus Gaussian sensor noise, quantised to 16 grey levels (a 4-bit
sensor; it also keeps the file small). The generator is seeded, so the dataset file can always be
rebuilt identically with `python make_dataset.py`.
"""

from __future__ import annotations

import numpy as np

CLASSES = ("circle", "square", "triangle", "cross")


def _draw(kind: str, xx: np.ndarray, yy: np.ndarray, cx: float, cy: float, r: float) -> np.ndarray:
    dx, dy = xx - cx, yy - cy
    if kind == "circle":
        return dx**2 + dy**2 <= r**2
    if kind == "square":
        return (np.abs(dx) <= r * 0.85) & (np.abs(dy) <= r * 0.85)
    if kind == "triangle":  # apex up, base at cy + r
        return (dy <= r) & (dy >= -r) & (np.abs(dx) <= (dy + r) / 2)
    if kind == "cross":
        arm = max(r * 0.3, 0.8)
        return ((np.abs(dx) <= arm) & (np.abs(dy) <= r)) | ((np.abs(dy) <= arm) & (np.abs(dx) <= r))
    raise ValueError(f"unknown shape {kind!r}")


def render_shapes(num: int, size: int = 16, noise: float = 0.06, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """`num` images (uint8, shape (num, size, size)) and their class indices (int64), classes balanced."""
    rng = np.random.default_rng(seed)
    coords = np.arange(size, dtype=np.float32) + 0.5
    yy, xx = np.meshgrid(coords, coords, indexing="ij")
    labels = np.arange(num) % len(CLASSES)
    rng.shuffle(labels)
    images = np.empty((num, size, size), dtype=np.uint8)
    for i, label in enumerate(labels):
        r = rng.uniform(size * 0.2, size * 0.36)
        cx, cy = rng.uniform(r, size - r, size=2)
        img = _draw(CLASSES[label], xx, yy, cx, cy, r) * rng.uniform(0.5, 1.0)
        img = np.clip(img + rng.normal(0.0, noise, img.shape), 0.0, 1.0)
        images[i] = (np.round(img * 15) * 17).astype(np.uint8)  # 16 levels: 0, 17, ..., 255
    return images, labels.astype(np.int64)
