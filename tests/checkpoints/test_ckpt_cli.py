"""`render_ckpt`: the inspection text and JSON of safe, unsafe and unreadable checkpoints."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from ckpt_tools import replace_member

from trainaudit.ckpt_cli import render_ckpt


def test_text_and_json_of_a_checkpoint(tmp_path: Path) -> None:
    path = tmp_path / "m.pt"
    torch.save({"state_dict": torch.nn.Linear(3, 2).state_dict(), "epoch": 4}, path)
    text = render_ckpt(path, "text")
    assert "torch-zip" in text and "safety: no global outside the weights allowlist" in text
    assert "epoch: 4" in text and "model weights: 2 tensors, 8 parameters" in text
    assert "state_dict.weight  float32   [2, 3]" in text
    data = json.loads(render_ckpt(path, "json"))
    assert data["safe_to_load"] is True and data["model_parameters"] == 8
    assert [t["name"] for t in data["tensors"]] == ["state_dict.weight", "state_dict.bias"]


def test_unsafe_and_unreadable(tmp_path: Path) -> None:
    path = tmp_path / "evil.pt"
    torch.save({"w": torch.ones(1)}, path)
    replace_member(path, "/data.pkl", b"\x80\x02cos\nsystem\nX\x04\x00\x00\x00true\x85R.")
    text = render_ckpt(path)
    assert "UNSAFE" in text and "os.system  (in evil/data.pkl)" in text
    data = json.loads(render_ckpt(path, "json"))
    assert data["safe_to_load"] is False and data["unsafe_globals"][0]["name"] == "system"
    (tmp_path / "empty.pt").write_bytes(b"")
    assert "problem: empty file (0 bytes)" in render_ckpt(tmp_path / "empty.pt")
    with pytest.raises(ValueError):
        render_ckpt(path, "yaml")
