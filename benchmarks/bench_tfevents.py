"""Benchmark: trainaudit's event-file reader vs tensorboard's EventAccumulator and tbparse on one file.

Writes a ~10 MB, 200,000-point event file with torch's SummaryWriter into a temporary directory,
then reads every point with each reader (CRC checked by all three) and prints times and ratios.
Run: python benchmarks/bench_tfevents.py [--points N] [--repeat R]
"""

from __future__ import annotations

import argparse
import math
import tempfile
import time
from pathlib import Path

TAGS = ("train/loss", "train/accuracy", "val/loss", "lr")


def write_events(logdir: Path, points: int) -> Path:
    from torch.utils.tensorboard import SummaryWriter

    w = SummaryWriter(str(logdir))
    per_tag = points // len(TAGS)
    for i in range(per_tag):
        for k, tag in enumerate(TAGS):
            w.add_scalar(tag, math.exp(-i / 20000) + 0.01 * ((i * 7919 + k) % 97), i)
    w.close()
    (path,) = logdir.glob("events.out.tfevents.*")
    return path


def read_trainaudit(logdir: Path, path: Path) -> int:
    from trainaudit.evidence.logs.tfevents import read_tfevents

    return read_tfevents(path, path.name).points


def read_event_accumulator(logdir: Path, path: Path) -> int:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    ea = EventAccumulator(str(logdir), size_guidance={"scalars": 0})  # 0 keeps every point
    ea.Reload()
    return sum(len(ea.Scalars(t)) for t in ea.Tags()["scalars"])


def read_tbparse(logdir: Path, path: Path) -> int:
    from tbparse import SummaryReader

    return len(SummaryReader(str(logdir)).scalars)


def timed(fn, logdir: Path, path: Path, repeat: int) -> tuple[float, int]:
    fn(logdir, path)  # warm-up: imports and the page cache are not what is measured
    best, n = math.inf, 0
    for _ in range(repeat):
        t0 = time.perf_counter()
        n = fn(logdir, path)
        best = min(best, time.perf_counter() - t0)
    return best, n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    from trainaudit.evidence.logs import crc

    with tempfile.TemporaryDirectory() as tmp:
        logdir = Path(tmp)
        path = write_events(logdir, args.points)
        print(f"event file: {path.stat().st_size / 1e6:.1f} MB, {args.points} points, {len(TAGS)} tags; "
              f"CRC-32C implementation: {crc.IMPLEMENTATION}")
        results = {}
        for name, fn in (("trainaudit", read_trainaudit), ("EventAccumulator", read_event_accumulator),
                         ("tbparse", read_tbparse)):
            try:
                results[name] = timed(fn, logdir, path, args.repeat)
            except ImportError as exc:
                print(f"{name}: not installed ({exc.name}); skipped")
        ours = results["trainaudit"][0]
        for name, (secs, n) in results.items():
            ratio = "" if name == "trainaudit" else f"  trainaudit is {secs / ours:.1f}x faster"
            print(f"{name:>18}: {secs:7.3f} s  {n} points{ratio}")
        if crc.IMPLEMENTATION != "python":
            fast = crc.crc32c
            crc.crc32c = crc.crc32c_python
            try:
                secs, n = timed(read_trainaudit, logdir, path, 1)
            finally:
                crc.crc32c = fast
            print(f"{'trainaudit (pure-Python CRC)':>18}: {secs:7.3f} s  {n} points")


if __name__ == "__main__":
    main()
