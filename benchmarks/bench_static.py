"""Benchmark: the static audit of a generated ~10,000-file / ~1,000,000-line tree against bare ast.parse.

Run: python benchmarks/bench_static.py [--files N] [--repeat R]. Prints the times and ratios (target <= 2x);
results are recorded in docs/benchmarks.md. Not a test: shared machines are noisy, so only the ratio
measured in one run means anything. Each of R turns is a fresh process that times the floor, then the audit
as a user's first audit runs (rule modules still to load, no memory left by an earlier audit); each keeps
its best time over the turns, as timeit does: other jobs only ever add time, and one turn on a busy
machine swung by 40%.
"""

from __future__ import annotations

import argparse
import ast
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from trainaudit import audit

MODEL = '''
import torch
import torch.nn as nn
import torch.nn.functional as F


class Block{i}(nn.Module):
    """A residual block."""

    def __init__(self, dim: int = 64) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.fc1 = nn.Linear(dim, dim * 4)
        self.fc2 = nn.Linear(dim * 4, dim)
        self.drop = nn.Dropout(0.1)

    def forward(self, x):
        h = self.norm(x)
        h = F.gelu(self.fc1(h))
        h = self.drop(self.fc2(h))
        return x + h
'''
UTIL = '''
import json
import os
import numpy as np


def load_split_{i}(path, split="train"):
    with open(os.path.join(path, split + ".json")) as fh:
        rows = json.load(fh)
    xs = np.asarray([r["x"] for r in rows], dtype=np.float32)
    ys = np.asarray([r["y"] for r in rows], dtype=np.int64)
    return xs, ys


def normalise_{i}(xs, eps=1e-6):
    mean = xs.mean(axis=0, keepdims=True)
    std = xs.std(axis=0, keepdims=True)
    return (xs - mean) / (std + eps)
'''
TRAIN = '''
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, TensorDataset
from pkg{pkg}.util{u} import load_split_{u}, normalise_{u}
from pkg{pkg}.model{m} import Block{m}


def evaluate(model, loader):
    model.eval()
    correct = total = 0
    with torch.no_grad():
        for x, y in loader:
            correct += (model(x).argmax(-1) == y).sum().item()
            total += y.numel()
    return correct / max(total, 1)


def main(path="data"):
    xs, ys = load_split_{u}(path)
    loader = DataLoader(TensorDataset(torch.from_numpy(normalise_{u}(xs)), torch.from_numpy(ys)), batch_size=32)
    val = DataLoader(TensorDataset(*map(torch.from_numpy, load_split_{u}(path, "val"))), batch_size=64)
    model = Block{m}()
    opt = torch.optim.AdamW(model.parameters(), lr=3e-4)
    for epoch in range(10):
        model.train()
        for x, y in loader:
            loss = F.cross_entropy(model(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
        print(epoch, evaluate(model, val))
'''


def generate(root: Path, files: int) -> int:
    """Write packages of model, utility and training modules padded to ~100 lines each."""
    lines = 0
    for i in range(files):
        pkg = i // 100
        d = root / f"pkg{pkg}"
        d.mkdir(exist_ok=True)
        (d / "__init__.py").touch()
        kind = i % 10
        if kind == 0:
            text, name = TRAIN.format(u=i + 2, m=i + 1, pkg=pkg), f"train{i}.py"  # the util and model below
        elif kind % 2:
            text, name = MODEL.format(i=i), f"model{i}.py"
        else:
            text, name = UTIL.format(i=i), f"util{i}.py"
        pad = max(0, 100 - text.count("\n"))
        text += "".join(f"\nCONSTANT_{n} = {n} * 2  # padding\n" for n in range(pad // 2))
        (d / name).write_text(text)
        lines += text.count("\n")
    return lines


def parse_floor(root: Path) -> float:
    start = time.perf_counter()
    for p in root.rglob("*.py"):
        ast.parse(p.read_bytes().decode("utf-8"), filename=str(p))
    return time.perf_counter() - start


def one_turn(root: Path) -> dict:
    """The floor in this (fresh) process; the `trainaudit audit` command, whose time includes starting Python and
    importing trainaudit, and which leaves its memory to the exit (see cli); then the audit in this process."""
    floor = parse_floor(root)
    # The command first: run after the in-process audit, it measured 10-20% slower than alone, while this
    # process still held the memory the audit had freed.
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "trainaudit", "audit", str(root), "--format", "json"],
                          capture_output=True, text=True)
    command = time.perf_counter() - start
    start = time.perf_counter()
    report = audit(root)
    full = time.perf_counter() - start
    if json.loads(proc.stdout)["verdict"] != report.verdict.value:
        raise SystemExit(f"the command and the API disagree: {proc.stderr}")
    return {"floor": floor, "audit": full, "command": command, "verdict": report.verdict.value,
            "findings": len(report.findings)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--files", type=int, default=10_000)
    ap.add_argument("--repeat", type=int, default=3, help="turns, each in a fresh process; the best times are kept")
    ap.add_argument("--turn", type=Path, help=argparse.SUPPRESS)  # internal: one turn over this tree, as JSON
    args = ap.parse_args()
    if args.turn:
        print(json.dumps(one_turn(args.turn)))
        return
    root = Path(tempfile.mkdtemp(prefix="trainaudit-bench-"))
    try:
        lines = generate(root, args.files)
        n = sum(1 for _ in root.rglob("*.py"))
        turns = [json.loads(subprocess.run([sys.executable, __file__, "--turn", str(root)], check=True,
                                           capture_output=True, text=True).stdout)
                 for _ in range(max(1, args.repeat))]
        floor, full, command = (min(t[k] for t in turns) for k in ("floor", "audit", "command"))
        print(f"tree: {n} files, {lines} lines; verdict {turns[0]['verdict']}, {turns[0]['findings']} findings")
        print("turns (floor / audit() / command): " + ", ".join(
            f"{t['floor']:.2f} s / {t['audit']:.2f} s / {t['command']:.2f} s" for t in turns))
        print(f"best ast.parse floor: {floor:.2f} s; best trainaudit.audit(): {full:.2f} s, ratio {full / floor:.2f}x; "
              f"best `trainaudit audit`: {command:.2f} s, ratio {command / floor:.2f}x (target <= 2x)")
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
