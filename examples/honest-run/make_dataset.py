"""Build data/shapes.npz once from the seeded generator in shapes/generate.py."""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

import numpy as np

from shapes.generate import render_shapes

HERE = Path(__file__).resolve().parent


def build(path: Path, num_train: int = 1200, num_val: int = 400, seed: int = 7) -> None:
    train_images, train_labels = render_shapes(num_train, seed=seed)
    val_images, val_labels = render_shapes(num_val, seed=seed + 1)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".npz")
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez_compressed(f, train_images=train_images, train_labels=train_labels,
                                val_images=val_images, val_labels=val_labels)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise
    print(f"wrote {path} ({path.stat().st_size} bytes): {num_train} train, {num_val} val")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=HERE / "data" / "shapes.npz")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    build(args.out, seed=args.seed)


if __name__ == "__main__":
    main()
