"""A minimal protobuf wire-format decoder: enough to walk the fields of TensorBoard and W&B records."""

from __future__ import annotations

import struct
from collections.abc import Iterator

_F32 = struct.Struct("<f").unpack_from
_F64 = struct.Struct("<d").unpack_from


class WireError(ValueError):
    """The bytes are not a well-formed protobuf message."""


def varint(buf: bytes, pos: int) -> tuple[int, int]:
    """Decode one base-128 varint at pos; returns (value, next position)."""
    result = 0
    shift = 0
    while True:
        if pos >= len(buf):
            raise WireError("truncated varint")
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise WireError("varint longer than 10 bytes")


def signed64(value: int) -> int:
    """Reinterpret a varint as a two's-complement int64 (proto int64 fields)."""
    return value - (1 << 64) if value >= 1 << 63 else value


def fields(buf: bytes, start: int = 0, end: int | None = None) -> Iterator[tuple[int, int, object]]:
    """Yield (field number, wire type, value) for each field in buf[start:end].

    value is an int for varint and fixed fields (fixed32/64 as raw bytes for the caller to
    reinterpret) and a (start, end) pair for length-delimited fields, so nothing is copied.
    """
    pos = start
    end = len(buf) if end is None else end
    while pos < end:
        key, pos = varint(buf, pos)
        num, wt = key >> 3, key & 7
        if wt == 0:
            value, pos = varint(buf, pos)
        elif wt == 1:
            if pos + 8 > end:
                raise WireError("truncated fixed64")
            value = buf[pos:pos + 8]
            pos += 8
        elif wt == 2:
            n, pos = varint(buf, pos)
            if pos + n > end:
                raise WireError("length-delimited field runs past its message")
            value = (pos, pos + n)
            pos += n
        elif wt == 5:
            if pos + 4 > end:
                raise WireError("truncated fixed32")
            value = buf[pos:pos + 4]
            pos += 4
        else:
            raise WireError(f"unsupported wire type {wt}")
        if num == 0:
            raise WireError("field number 0")
        yield num, wt, value


def f32(raw: bytes) -> float:
    return _F32(raw)[0]


def f64(raw: bytes) -> float:
    return _F64(raw)[0]
