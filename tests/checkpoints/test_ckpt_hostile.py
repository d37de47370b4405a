"""Broken and hostile files: a clear problem record, no traceback, memory bounded by metadata."""

from __future__ import annotations

import io
import json
import os
import struct
import tracemalloc
import zipfile
from pathlib import Path

import torch
from ckpt_tools import data_pkl, findings, replace_member
from safetensors.torch import save_file

from trainaudit.evidence.checkpoints import read_checkpoint
from trainaudit.evidence.checkpoints.values import tensor_stats


def _read(path: Path):
    tracemalloc.start()
    try:
        ckpt = read_checkpoint(path, path.name)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return ckpt, peak


def test_empty_file_and_random_bytes(tmp_path: Path) -> None:
    (tmp_path / "empty.pt").write_bytes(b"")
    (tmp_path / "noise.pth").write_bytes(os.urandom(4096).replace(b"PK", b"pk").lstrip(b"\x80"))
    assert read_checkpoint(tmp_path / "empty.pt").problems == ["empty file (0 bytes)"]
    noise = read_checkpoint(tmp_path / "noise.pth")
    assert noise.format == "unknown"
    assert noise.problems[0].startswith("not a recognised checkpoint format")
    found = findings(tmp_path, "parse-error")
    assert sorted((f.rule, f.path, f.severity.value) for f in found) == [
        ("parse-error", "empty.pt", "warning"), ("parse-error", "noise.pth", "warning")]


def test_truncated_zip_and_truncated_safetensors(tmp_path: Path) -> None:
    torch.save({"w": torch.randn(1000)}, tmp_path / "full.pt")
    raw = (tmp_path / "full.pt").read_bytes()
    (tmp_path / "cut.pt").write_bytes(raw[: len(raw) // 2])
    cut = read_checkpoint(tmp_path / "cut.pt")
    assert cut.problems and "zip" in cut.problems[0] and not cut.tensors

    save_file({"w": torch.randn(1000)}, str(tmp_path / "full.safetensors"))
    raw = (tmp_path / "full.safetensors").read_bytes()
    (tmp_path / "cut.safetensors").write_bytes(raw[:-100])
    cut = read_checkpoint(tmp_path / "cut.safetensors")
    assert cut.problems == ["cut.safetensors: tensor w ends at byte 4000 of a data section of 3900 "
                            "(truncated or absurd size)"]
    (tmp_path / "head.safetensors").write_bytes(raw[:20])
    assert "header declares" in read_checkpoint(tmp_path / "head.safetensors").problems[0]


def test_truncated_data_member_is_reported_not_read(tmp_path: Path) -> None:
    path = tmp_path / "m.pt"
    torch.save({"w": torch.randn(256)}, path)
    replace_member(path, "/data/0", b"\x00" * 100)
    ckpt = read_checkpoint(path)
    assert ckpt.problems == ["storage 0 of tensor w declares 1024 bytes but the file holds 100"]
    assert tensor_stats(ckpt.tensors["w"]) is None  # no location recorded: values are never read past the end


def test_absurd_declared_sizes(tmp_path: Path) -> None:
    # A persistent id that declares 10**15 float storages, in a file of a few kB.
    path = tmp_path / "huge.pt"
    torch.save({"w": torch.ones(4)}, path)
    pkl = data_pkl(path).replace(b"K\x04t", b"\x8a\x07" + (10**15).to_bytes(7, "little") + b"t", 1)
    pkl = pkl.replace(b"K\x04\x85", b"\x8a\x07" + (10**15).to_bytes(7, "little") + b"\x85", 1)
    replace_member(path, "/data.pkl", pkl)
    ckpt, peak = _read(path)
    assert ckpt.tensors["w"].shape == (10**15,)
    assert ckpt.problems == [f"storage 0 of tensor w declares {4 * 10**15} bytes but the file holds 16"]
    assert peak < 5_000_000

    # A safetensors header that claims 2**62 bytes of header.
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(struct.pack("<Q", 2**62) + b"{}")
    assert read_checkpoint(bad).problems == [f"bad.safetensors: header declares {2**62} bytes in a file of 10"]
    # A safetensors tensor whose shape needs more bytes than its offsets give.
    header = json.dumps({"w": {"dtype": "F32", "shape": [10**12, 10**12], "data_offsets": [0, 16]}}).encode()
    (tmp_path / "shape.safetensors").write_bytes(struct.pack("<Q", len(header)) + header + b"\0" * 16)
    assert "needs" in read_checkpoint(tmp_path / "shape.safetensors").problems[0]


def test_zip_bomb_is_rejected_with_bounded_memory(tmp_path: Path) -> None:
    path = tmp_path / "bomb.pt"
    torch.save({"w": torch.ones(2)}, path)
    buf = io.BytesIO()
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(buf, "w") as dst:
        for info in src.infolist():
            dst.writestr(info, src.read(info))
        dst.writestr(zipfile.ZipInfo("bomb/extra.pkl"), b"\0" * 200_000_000, compress_type=zipfile.ZIP_DEFLATED)
    path.write_bytes(buf.getvalue())
    assert path.stat().st_size < 1_000_000
    ckpt, peak = _read(path)
    assert len(ckpt.problems) == 1 and "zip bomb" in ckpt.problems[0]
    assert peak < 5_000_000


def test_path_traversal_member_names(tmp_path: Path) -> None:
    path = tmp_path / "evil.pt"
    torch.save({"w": torch.ones(2)}, path)
    buf = io.BytesIO()
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(buf, "w") as dst:
        for info in src.infolist():
            dst.writestr(info, src.read(info))
        dst.writestr("evil/../../etc/cron.d/job", b"* * * * * root sh")
        dst.writestr("/abs/path", b"x")
    path.write_bytes(buf.getvalue())
    ckpt = read_checkpoint(path)
    assert ckpt.problems == [
        "member name 'evil/../../etc/cron.d/job' points outside the archive (path traversal)",
        "member name '/abs/path' points outside the archive (path traversal)",
    ]
    assert not (tmp_path.parent / "etc").exists()


def test_sharded_index_pointing_outside_its_folder(tmp_path: Path) -> None:
    index = {"weight_map": {"w": "../../secret.safetensors"}}
    (tmp_path / "model.safetensors.index.json").write_text(json.dumps(index))
    ckpt = read_checkpoint(tmp_path / "model.safetensors.index.json")
    assert ckpt.problems == ["shard name '../../secret.safetensors' leaves the model folder"]


def test_garbage_pickle_inside_valid_zip(tmp_path: Path) -> None:
    path = tmp_path / "g.pt"
    torch.save({"w": torch.ones(2)}, path)
    replace_member(path, "/data.pkl", b"\x80\x02" + os.urandom(64))
    ckpt = read_checkpoint(path)
    assert ckpt.problems and ckpt.problems[0].startswith("pickle could not be read to the end")
