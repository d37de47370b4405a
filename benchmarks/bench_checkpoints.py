"""Listing the tensors of a >= 2 GB checkpoint: trainaudit's reader vs torch.load(weights_only=True).

    python benchmarks/bench_checkpoints.py [--gb 2.2]

Builds a model-like state_dict in a temp dir (deleted afterwards), then in one run: times and measures the
reader (tracemalloc peak and RSS growth), then torch.load of the same file (RSS growth). Needs torch.
"""

from __future__ import annotations

import argparse
import gc
import resource
import shutil
import tempfile
import time
import tracemalloc
from pathlib import Path


def _rss_mb() -> float:
    """Current resident set size from /proc (ru_maxrss only ever grows)."""
    with open("/proc/self/statm") as fh:
        pages = int(fh.read().split()[1])
    return pages * resource.getpagesize() / 2**20


def build(path: Path, gb: float) -> tuple[int, int]:
    import torch

    # 24 transformer-like blocks of big matrices plus many small tensors: metadata is not trivial either.
    per_block = int(gb * 2**30 / 4 / 24)
    dim = max(int((per_block / 4) ** 0.5), 1)
    sd: dict[str, torch.Tensor] = {"embed.weight": torch.zeros(32000 if gb > 0.01 else 2, 64)}
    for i in range(24):
        for name in ("q", "k", "v", "o"):
            sd[f"blocks.{i}.attn.{name}.weight"] = torch.empty(dim, dim).uniform_(-0.01, 0.01)
            sd[f"blocks.{i}.attn.{name}.bias"] = torch.zeros(dim)
        sd[f"blocks.{i}.norm.weight"] = torch.ones(dim)
        sd[f"blocks.{i}.norm.bias"] = torch.zeros(dim)
    torch.save({"state_dict": sd, "epoch": 10, "global_step": 12345}, path)
    del sd
    gc.collect()
    return path.stat().st_size, 24 * 8 + 1


def _peak(path: Path) -> float:
    from trainaudit.evidence.checkpoints import read_checkpoint

    tracemalloc.start()
    read_checkpoint(path)
    peak = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    return peak


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--gb", type=float, default=2.2)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="ta-bench-ckpt-"))
    try:
        path = tmp / "big.pt"
        t0 = time.perf_counter()
        size, _ = build(path, args.gb)
        print(f"built {path.name}: {size / 2**30:.2f} GiB in {time.perf_counter() - t0:.1f}s")

        from trainaudit.evidence.checkpoints import read_checkpoint

        read_checkpoint(path)  # warm the import and the page cache of the zip directory once
        rss0 = _rss_mb()
        runs = []
        for _ in range(5):  # timed without tracemalloc, which slows allocation-heavy code several times
            t0 = time.perf_counter()
            ckpt = read_checkpoint(path)
            names = [(t.name, t.dtype, t.shape) for t in ckpt.tensors.values()]
            runs.append(time.perf_counter() - t0)
        ours = min(runs)
        ours_rss = _rss_mb() - rss0
        peak = _peak(path)
        twin = tmp / "twin.pt"  # the same 241 names at tiny sizes: memory should not differ
        build(twin, 1e-6)
        twin_peak = _peak(twin)
        assert not ckpt.problems and len(names) == len(ckpt.tensors)
        params = ckpt.parameter_count
        print(f"trainaudit: {len(names)} tensors, {params:,} elements in {ours * 1000:.1f} ms "
              f"(best of 5; median {sorted(runs)[2] * 1000:.1f} ms); "
              f"tracemalloc peak {peak:.2f} MiB (same names, {twin.stat().st_size / 1024:.0f} KiB file: "
              f"{twin_peak:.2f} MiB); RSS growth {ours_rss:.1f} MiB")

        import torch

        gc.collect()
        rss0 = _rss_mb()
        t0 = time.perf_counter()
        obj = torch.load(path, weights_only=True)
        listed = [(k, v.dtype, tuple(v.shape)) for k, v in obj["state_dict"].items()]
        theirs = time.perf_counter() - t0
        theirs_rss = _rss_mb() - rss0
        assert len(listed) == len(names)
        print(f"torch.load(weights_only=True): {theirs * 1000:.1f} ms; RSS growth {theirs_rss:.1f} MiB")
        print(f"speed-up: {theirs / ours:.0f}x")
        del obj, listed
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
