"""The examples' committed artifacts are what their own scripts generate, and audit the same when regenerated."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from trainaudit import audit

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def findings(root: Path) -> set[tuple[str, str, int | None]]:
    # Event-file names carry the time they were written; compare them by folder.
    return {(f.rule, f.path.rsplit("events.out.tfevents", 1)[0], f.line) for f in audit(root).findings}


def layout(obj: object) -> object:
    """A checkpoint's structure: containers and their keys, each tensor's dtype and shape, every non-float value.

    Tensor and float values are left out: float rounding differs between CPUs (vector widths change summation
    order), and training amplifies it: regenerating on another machine moved a bias by 4e-3 and the recorded
    validation accuracy by 0.005, from differences of 1e-8 in the first steps."""
    import torch

    if isinstance(obj, torch.Tensor):
        return ("tensor", obj.dtype, tuple(obj.shape))
    if isinstance(obj, dict):
        return {k: layout(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [layout(v) for v in obj]
    return float if isinstance(obj, float) else obj


@pytest.mark.parametrize("name", ["placeholder-run", "honest-run"])
def test_regenerated_artifacts_match_the_committed_ones(tmp_path, name):
    torch = pytest.importorskip("torch")
    pytest.importorskip("tensorboard")
    src = EXAMPLES / name
    copy = tmp_path / name
    shutil.copytree(src, copy)
    for folder in ("runs", "checkpoints", "results"):
        shutil.rmtree(copy / folder, ignore_errors=True)
    subprocess.run([sys.executable, "make_artifacts.py"], cwd=copy, check=True, capture_output=True, timeout=300)
    for ckpt in (src / "checkpoints").iterdir():
        regenerated = copy / "checkpoints" / ckpt.name
        assert layout(torch.load(regenerated, weights_only=True)) == layout(torch.load(ckpt, weights_only=True))
    assert findings(copy) == findings(src)
