"""Run tracer overhead: the same training step plain and under full instrumentation, in one process."""

from __future__ import annotations

import os
import statistics
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

from trainaudit.tracer.hooks import Recorder
from trainaudit.tracer.sites import Paths

WARMUP, STEPS, ROUNDS, BATCH = 3, 5, 6, 64


class Block(nn.Module):
    def __init__(self, dim: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.up = nn.Linear(dim, 2 * dim)
        self.down = nn.Linear(2 * dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.down(F.gelu(self.up(self.norm(x))))


class Model(nn.Module):
    """About 4.2M parameters: an MLP tower of residual blocks and a classifier."""

    def __init__(self, dim: int = 512, depth: int = 4, classes: int = 10) -> None:
        super().__init__()
        self.inp = nn.Linear(128, dim)
        self.blocks = nn.Sequential(*[Block(dim) for _ in range(depth)])
        self.head = nn.Linear(dim, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.blocks(self.inp(x)))


def step_times(model: nn.Module, opt: torch.optim.Optimizer, x: torch.Tensor, y: torch.Tensor) -> list[float]:
    times = []
    for i in range(WARMUP + STEPS):
        t0 = time.perf_counter()
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        if i >= WARMUP:
            times.append(time.perf_counter() - t0)
    return times


def main() -> None:
    torch.manual_seed(0)
    torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))
    model = Model()
    params = sum(p.numel() for p in model.parameters())
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    x, y = torch.randn(BATCH, 128), torch.randint(0, 10, (BATCH,))
    recorder = Recorder(Paths(os.getcwd()), steps=10**9)
    plain: list[float] = []
    traced: list[float] = []
    for _ in range(ROUNDS):  # interleaved, so a busy neighbour on the machine slows both alike
        plain += step_times(model, opt, x, y)
        recorder.install()
        try:
            traced += step_times(model, opt, x, y)
        finally:
            recorder.uninstall()
    plain_ms, traced_ms = statistics.median(plain) * 1e3, statistics.median(traced) * 1e3
    print(f"model parameters: {params:,}; batch {BATCH}; {ROUNDS}x{STEPS} interleaved steps each; "
          f"torch {torch.__version__}, {torch.get_num_threads()} thread(s)")
    print(f"plain step (median):        {plain_ms:8.2f} ms")
    print(f"instrumented step (median): {traced_ms:8.2f} ms")
    print(f"ratio: {traced_ms / plain_ms:.2f}x (target <= 1.5x)")
    sys.exit(0 if traced_ms / plain_ms <= 1.5 else 1)


if __name__ == "__main__":
    main()
