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


@pytest.mark.parametrize("name", ["placeholder-run", "honest-run"])
def test_regenerated_artifacts_match_the_committed_ones(tmp_path, name):
    pytest.importorskip("torch")
    pytest.importorskip("tensorboard")
    src = EXAMPLES / name
    copy = tmp_path / name
    shutil.copytree(src, copy)
    for folder in ("runs", "checkpoints", "results"):
        shutil.rmtree(copy / folder, ignore_errors=True)
    subprocess.run([sys.executable, "make_artifacts.py"], cwd=copy, check=True, capture_output=True, timeout=300)
    for ckpt in (src / "checkpoints").iterdir():
        assert (copy / "checkpoints" / ckpt.name).read_bytes() == ckpt.read_bytes(), ckpt.name
    assert findings(copy) == findings(src)
