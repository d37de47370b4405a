"""safetensors files: `u64 N | N bytes of JSON header | data`; the header alone names every tensor."""

from __future__ import annotations

import json
import math
import struct
from pathlib import Path

from trainaudit.evidence.checkpoints.limits import MAX_DIMS, MAX_HEADER_BYTES, MAX_TENSORS
from trainaudit.evidence.checkpoints.model import Checkpoint, TensorInfo

# safetensors dtype code -> (torch-style name, bytes per element)
DTYPES: dict[str, tuple[str, int]] = {
    "F64": ("float64", 8), "F32": ("float32", 4), "F16": ("float16", 2), "BF16": ("bfloat16", 2),
    "I64": ("int64", 8), "I32": ("int32", 4), "I16": ("int16", 2), "I8": ("int8", 1), "U64": ("uint64", 8),
    "U32": ("uint32", 4), "U16": ("uint16", 2), "U8": ("uint8", 1), "BOOL": ("bool", 1),
    "F8_E4M3": ("float8_e4m3fn", 1), "F8_E5M2": ("float8_e5m2", 1), "C64": ("complex64", 8),
}


def looks_like_safetensors(head: bytes, size: int) -> bool:
    if len(head) < 9:
        return False
    n = struct.unpack("<Q", head[:8])[0]
    return 2 <= n <= MAX_HEADER_BYTES and 8 + n <= size and head[8:9] == b"{"


def read_safetensors(path: Path, ckpt: Checkpoint, only: set[str] | None = None) -> None:
    """Fill `ckpt` with the tensors of one file (all, or the names in `only` for a shard)."""
    size = path.stat().st_size
    with path.open("rb") as fh:
        raw = fh.read(8)
        if len(raw) < 8:
            ckpt.problems.append(f"{path.name}: {len(raw)} bytes; too short for a safetensors header")
            return
        n = struct.unpack("<Q", raw)[0]
        if n > MAX_HEADER_BYTES or 8 + n > size:
            ckpt.problems.append(f"{path.name}: header declares {n} bytes in a file of {size}")
            return
        try:
            header = json.loads(fh.read(n))
        except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
            ckpt.problems.append(f"{path.name}: header is not JSON ({exc})")
            return
    if not isinstance(header, dict):
        ckpt.problems.append(f"{path.name}: header is not a JSON object")
        return
    meta = header.pop("__metadata__", None)
    if isinstance(meta, dict):
        ckpt.metadata.update({str(k): str(v)[:500] for k, v in list(meta.items())[:200]})
    base = 8 + n
    for name, entry in list(header.items())[:MAX_TENSORS]:
        if only is not None and name not in only:
            continue
        problem = _check_entry(name, entry, size - base)
        if problem:
            ckpt.problems.append(f"{path.name}: {problem}")
            continue
        dtype, itemsize = DTYPES[entry["dtype"]]
        begin = entry["data_offsets"][0]
        ckpt.tensors[name] = TensorInfo(name=name, key=name, dtype=dtype, shape=tuple(entry["shape"]),
                                        itemsize=itemsize, file=path, byte_offset=base + begin)


def _check_entry(name: str, entry: object, data_size: int) -> str | None:
    if not isinstance(entry, dict):
        return f"entry {name!r} is not an object"
    dtype, shape, offsets = entry.get("dtype"), entry.get("shape"), entry.get("data_offsets")
    if dtype not in DTYPES:
        return f"tensor {name} has unknown dtype {dtype!r}"
    if not (isinstance(shape, list) and len(shape) <= MAX_DIMS
            and all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape)):
        return f"tensor {name} has an invalid shape {shape!r}"
    if not (isinstance(offsets, list) and len(offsets) == 2 and all(isinstance(o, int) for o in offsets)):
        return f"tensor {name} has invalid data_offsets {offsets!r}"
    begin, end = offsets
    expected = math.prod(shape) * DTYPES[dtype][1]
    if not 0 <= begin <= end or end - begin != expected:
        return f"tensor {name} spans {end - begin} bytes; shape {shape} of {dtype} needs {expected}"
    if end > data_size:
        return f"tensor {name} ends at byte {end} of a data section of {data_size} (truncated or absurd size)"
    return None
