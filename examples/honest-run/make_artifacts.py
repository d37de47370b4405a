"""Recreate this example's artifacts from scratch: data/shapes.npz (if missing), then a short real
training run writing runs/shapes_cnn/<event file>, checkpoints/shape_cnn.pt and results/metrics.json.

Seeded, CPU only, well under 30 seconds.

    python make_artifacts.py
"""

from __future__ import annotations

import shutil
from pathlib import Path

import torch

import make_dataset
import train

HERE = Path(__file__).resolve().parent


def main() -> None:
    torch.set_num_threads(1)  # same float results on any machine with this torch build
    torch.use_deterministic_algorithms(True)

    data = HERE / "data" / "shapes.npz"
    if not data.exists():
        make_dataset.build(data)

    log_dir = HERE / "runs" / "shapes_cnn"
    shutil.rmtree(log_dir, ignore_errors=True)
    summary = train.run(data, epochs=8, batch_size=32, lr=3e-3, seed=0, log_dir=log_dir,
                        checkpoint=HERE / "checkpoints" / "shape_cnn.pt",
                        results=HERE / "results" / "metrics.json")

    # The writer names its file events.out.tfevents.<time>.<hostname>.<pid>.<n>; keep the time, drop the
    # machine-specific parts so the committed name does not depend on where it was produced.
    for event_file in log_dir.glob("events.out.tfevents.*"):
        stamp = event_file.name.split(".")[3]
        event_file.rename(log_dir / f"events.out.tfevents.{stamp}.example.0.0")

    print(f"best val accuracy {summary['best']['accuracy']:.3f} at epoch {summary['best']['epoch']} "
          f"(chance is {1 / len(summary['classes']):.2f})")
    for sub in ("data", "runs", "checkpoints", "results"):
        for path in sorted(p for p in (HERE / sub).rglob("*") if p.is_file()):
            print(f"{path.relative_to(HERE)}  {path.stat().st_size} bytes")


if __name__ == "__main__":
    main()
