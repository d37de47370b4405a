"""Recreate this example's artifacts: runs/hybrid/<event file> and checkpoints/gnn_vit_hybrid_final.pth.

It replays the short run that produced them: `train_hybrid.train` for 20 steps with the script's
default logging interval of 100 steps, so the SummaryWriter is created, flushed and closed without a
single scalar ever being written. Seeded, CPU only, a few seconds.

    python make_artifacts.py
"""

from __future__ import annotations

import random
import shutil
from pathlib import Path

import numpy as np
import torch

from train_hybrid import train

HERE = Path(__file__).resolve().parent
SEED = 2303


def main() -> None:
    random.seed(SEED)
    np.random.seed(SEED)
    torch.manual_seed(SEED)
    torch.use_deterministic_algorithms(True)

    log_dir = HERE / "runs" / "hybrid"
    checkpoint = HERE / "checkpoints" / "gnn_vit_hybrid_final.pth"
    shutil.rmtree(log_dir, ignore_errors=True)

    train(steps=20, batch_size=16, log_dir=str(log_dir), log_interval=100, checkpoint_path=str(checkpoint))

    # The writer names its file events.out.tfevents.<time>.<hostname>.<pid>.<n>; keep the time, drop the
    # machine-specific parts so the committed name does not depend on where it was produced.
    for event_file in log_dir.glob("events.out.tfevents.*"):
        stamp = event_file.name.split(".")[3]
        event_file.rename(log_dir / f"events.out.tfevents.{stamp}.example.0.0")

    for path in sorted(p for p in (HERE / "runs").rglob("*") if p.is_file()) + [checkpoint]:
        print(f"{path.relative_to(HERE)}  {path.stat().st_size} bytes")


if __name__ == "__main__":
    main()
