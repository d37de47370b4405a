"""Recognise a checkpoint's format from its first bytes and read it with the matching reader."""

from __future__ import annotations

import zipfile
from pathlib import Path

from trainaudit.evidence.checkpoints.hf_sharded import read_hf_sharded
from trainaudit.evidence.checkpoints.interpret import fill_from_pickle
from trainaudit.evidence.checkpoints.limits import MAX_PICKLE_BYTES, MAX_ZIP_MEMBERS
from trainaudit.evidence.checkpoints.model import Checkpoint
from trainaudit.evidence.checkpoints.safe_pickle import is_pickle_head, load_pickle
from trainaudit.evidence.checkpoints.safetensors_header import looks_like_safetensors, read_safetensors
from trainaudit.evidence.checkpoints.torch_legacy import LEGACY_HEAD, read_torch_legacy
from trainaudit.evidence.checkpoints.torch_zip import read_torch_zip

CHECKPOINT_SUFFIXES = (".pt", ".pth", ".ckpt", ".bin", ".safetensors", ".index.json", ".pkl", ".pickle")
HEAD_BYTES = 32


def sniff(path: Path) -> str | None:
    """The format a file's content declares, reading at most its head (and a zip's member table)."""
    try:
        size = path.stat().st_size
        with path.open("rb") as fh:
            head = fh.read(HEAD_BYTES)
    except OSError:
        return None
    if head.startswith(LEGACY_HEAD):
        return "torch-legacy"
    if head[:4] in (b"PK\x03\x04", b"PK\x05\x06"):
        return "torch-zip" if _zip_has_data_pkl(path) else None
    if looks_like_safetensors(head, size):
        return "safetensors"
    if path.name.endswith(".index.json"):
        return "hf-sharded"
    if is_pickle_head(head):
        return "pickle"
    return None


def _zip_has_data_pkl(path: Path) -> bool:
    try:
        with zipfile.ZipFile(path) as zf:
            infos = zf.infolist()
            return len(infos) <= MAX_ZIP_MEMBERS and any(
                i.filename == "data.pkl" or i.filename.endswith("/data.pkl") for i in infos)
    except (zipfile.BadZipFile, OSError, ValueError, EOFError):
        return True  # a broken zip with a checkpoint's name is still reported, by the reader


def read_checkpoint(path: Path, rel: str | None = None) -> Checkpoint:
    """Everything a checkpoint says about itself; every failure is a recorded problem, never an exception."""
    ckpt = Checkpoint(path=rel or str(path), format="unknown", file=path)
    try:
        ckpt.size = path.stat().st_size
        if ckpt.size == 0:
            ckpt.problems.append("empty file (0 bytes)")
            return ckpt
        fmt = sniff(path)
        if fmt is None and path.name.endswith(".safetensors"):
            fmt = "safetensors"  # its reader says precisely what is wrong with the header
        if fmt is None:
            with path.open("rb") as fh:
                head = fh.read(8)
            ckpt.problems.append(f"not a recognised checkpoint format (starts with {head!r})")
            return ckpt
        ckpt.format = fmt
        if fmt == "torch-zip":
            read_torch_zip(path, ckpt)
        elif fmt == "torch-legacy":
            read_torch_legacy(path, ckpt)
        elif fmt == "safetensors":
            read_safetensors(path, ckpt)
        elif fmt == "hf-sharded":
            read_hf_sharded(path, ckpt)
        else:
            _read_plain_pickle(path, ckpt)
    except (OSError, MemoryError, RecursionError) as exc:
        ckpt.problems.append(f"cannot read: {type(exc).__name__}: {exc}"[:300])
    return ckpt


def _read_plain_pickle(path: Path, ckpt: Checkpoint) -> None:
    if ckpt.size > MAX_PICKLE_BYTES:
        ckpt.problems.append(f"pickle of {ckpt.size} bytes; larger than {MAX_PICKLE_BYTES // 2**20} MB is not read")
        return
    with path.open("rb") as fh:
        result = load_pickle(fh.read(), path.name)
    fill_from_pickle(ckpt, result, lambda _ref: (None, None, None, 0))
