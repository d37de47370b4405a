"""The pre-1.6 torch.save format: magic number, protocol, sys_info and object pickles, then raw storages."""

from __future__ import annotations

import struct
from pathlib import Path

from trainaudit.evidence.checkpoints.interpret import fill_from_pickle
from trainaudit.evidence.checkpoints.model import Checkpoint, StorageRef
from trainaudit.evidence.checkpoints.safe_pickle import load_pickle

LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
# A protocol-2 pickle of the magic number: PROTO 2, LONG1 of 10 bytes, little-endian.
LEGACY_HEAD = b"\x80\x02\x8a\x0a" + LEGACY_MAGIC.to_bytes(10, "little")


def read_torch_legacy(path: Path, ckpt: Checkpoint) -> None:
    """Fill `ckpt` from a legacy file; storage offsets are found by walking the size headers only."""
    size = path.stat().st_size
    with path.open("rb") as fh:
        header: list[object] = []
        for what in ("magic number", "protocol version", "sys_info"):
            res = load_pickle(fh, f"legacy {what}")
            ckpt.unsafe.extend(res.unsafe)
            if res.error:
                ckpt.problems.append(f"legacy {what} is unreadable ({res.error})")
                return
            header.append(res.obj)
        if header[0] != LEGACY_MAGIC:
            ckpt.problems.append("legacy checkpoint with a wrong magic number")
            return
        if header[1] != 1001:
            ckpt.problems.append(f"legacy protocol version {header[1]!r}; expected 1001")
        little = not isinstance(header[2], dict) or header[2].get("little_endian", True)
        ckpt.metadata["byteorder"] = "little" if little else "big"
        result = load_pickle(fh, "legacy object pickle")
        keys_res = load_pickle(fh, "legacy storage keys") if not result.error else None
        offsets: dict[str, tuple[int, int]] = {}  # key -> (byte offset of data, bytes present)
        if keys_res is not None:
            ckpt.unsafe.extend(keys_res.unsafe)
            keys = keys_res.obj if isinstance(keys_res.obj, list) else []
            if keys_res.error:
                ckpt.problems.append(f"legacy storage key list is unreadable ({keys_res.error})")
            pos = fh.tell()
            for key in keys:
                ref = result.storages.get(str(key))
                fh.seek(pos)
                raw = fh.read(8)
                if ref is None or len(raw) < 8:
                    ckpt.problems.append(f"legacy storage {key!r} is missing or truncated")
                    break
                numel = struct.unpack("<q" if little else ">q", raw)[0]
                nbytes = numel * ref.itemsize
                if numel < 0 or pos + 8 + nbytes > size:
                    ckpt.problems.append(
                        f"legacy storage {key!r} declares {nbytes} bytes at offset {pos + 8}; the file has {size}")
                    offsets[str(key)] = (pos + 8, max(0, size - pos - 8))
                    break
                offsets[str(key)] = (pos + 8, nbytes)
                pos += 8 + nbytes

    def locate(ref: StorageRef) -> tuple[Path | None, int | None, str | None, int]:
        if ref.key not in offsets:
            return None, None, None, 0
        offset, present = offsets[ref.key]
        return (path, offset, None, present) if little else (None, None, None, present)

    fill_from_pickle(ckpt, result, locate)
