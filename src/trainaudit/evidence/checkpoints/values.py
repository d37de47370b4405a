"""Tensor values, read lazily one tensor at a time in bounded chunks; numpy is used when installed."""

from __future__ import annotations

import array
import functools
import hashlib
import math
import struct
import sys
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, Any

from trainaudit.evidence.checkpoints.model import TensorInfo, storage_extent

CHUNK_BYTES = 16 * 1024 * 1024
MAX_STRIDED_BYTES = 256 * 1024 * 1024  # a non-contiguous view reads its storage span at most this large

@functools.cache
def _numpy() -> Any:
    """numpy when installed (optional for the core install), imported on first use to keep start-up light."""
    try:
        import numpy
    except ImportError:  # pragma: no cover - exercised only without numpy
        return None
    return numpy

_NP_CODES = {"float32": "<f4", "float64": "<f8", "float16": "<f2", "int64": "<i8", "int32": "<i4",
             "int16": "<i2", "int8": "i1", "uint8": "u1", "uint16": "<u2", "uint32": "<u4", "uint64": "<u8",
             "bool": "?"}
_ARRAY_CODES = {"float32": "f", "float64": "d", "int64": "q", "int32": "i", "int16": "h", "int8": "b",
                "uint8": "B", "bool": "B", "uint16": "H", "uint32": "I", "uint64": "Q"}
NUMERIC = frozenset(_NP_CODES) | {"bfloat16"}


@dataclass(frozen=True)
class TensorStats:
    """Summary of one tensor's values; float statistics skip NaN and Inf."""

    count: int
    nan: int
    inf: int
    min: float | None
    max: float | None
    mean: float | None
    var: float | None
    constant: float | None  # the value every element holds, if they all hold the same finite one

    @property
    def absmax(self) -> float | None:
        return None if self.min is None or self.max is None else max(abs(self.min), abs(self.max))


def raw_chunks(t: TensorInfo) -> Iterator[bytes] | None:
    """The tensor's bytes in row-major order, in chunks; None when they cannot be located or are strided
    without numpy."""
    _np = _numpy()
    if t.file is None or t.itemsize <= 0 or (t.byte_offset is None and t.member is None):
        return None
    if not t.is_contiguous:
        return _strided(t) if _np is not None else None
    return _contiguous(t)


def _contiguous(t: TensorInfo) -> Iterator[bytes]:
    start, remaining = t.offset * t.itemsize, t.nbytes
    step = max(t.itemsize, CHUNK_BYTES - CHUNK_BYTES % t.itemsize)
    if t.byte_offset is not None:
        with open(t.file, "rb") as fh:  # type: ignore[arg-type]
            fh.seek(t.byte_offset + start)
            yield from _bounded_reads(fh, remaining, step, f"{t.name}: file ends inside the tensor")
        return
    with zipfile.ZipFile(t.file) as zf, zf.open(t.member) as fh:  # type: ignore[arg-type]
        # compressed members cannot seek cheaply: skip forward in bounded reads
        for _ in _bounded_reads(fh, start, step, f"{t.name}: member ends before the tensor"):
            pass
        yield from _bounded_reads(fh, remaining, step, f"{t.name}: member ends inside the tensor")


def _bounded_reads(fh: IO[bytes], count: int, step: int, eof_message: str) -> Iterator[bytes]:
    """Exactly `count` bytes from fh in reads of at most `step`; EOFError(eof_message) if it ends first."""
    while count > 0:
        data = fh.read(min(step, count))
        if not data:
            raise EOFError(eof_message)
        count -= len(data)
        yield data


def _strided(t: TensorInfo) -> Iterator[bytes]:
    _np = _numpy()
    assert _np is not None and t.stride is not None
    if 0 in t.shape:
        return
    span = storage_extent(t.offset, t.shape, t.stride)
    if span * t.itemsize > MAX_STRIDED_BYTES:
        raise ValueError(f"{t.name}: a strided view over {span * t.itemsize} bytes is not read")
    whole = TensorInfo(name=t.name, dtype=t.dtype, shape=(span,), itemsize=t.itemsize, file=t.file,
                       byte_offset=t.byte_offset, member=t.member)
    buf = _np.frombuffer(b"".join(_contiguous(whole)), dtype=_np.uint8).reshape(span, t.itemsize)
    view = _np.lib.stride_tricks.as_strided(
        buf[t.offset:], shape=(*t.shape, t.itemsize),
        strides=(*(s * t.itemsize for s in t.stride), 1))
    yield view.tobytes()


def decode(chunk: bytes, dtype: str) -> Any:
    """Bytes of one dtype -> a float-like sequence (a numpy array, or a Python array / list)."""
    _np = _numpy()
    if _np is not None:
        if dtype == "bfloat16":
            return (_np.frombuffer(chunk, "<u2").astype(_np.uint32) << 16).view(_np.float32)
        return _np.frombuffer(chunk, _NP_CODES[dtype])
    if dtype == "float16":
        return [v for (v,) in struct.iter_unpack("<e", chunk)]
    if dtype == "bfloat16":
        halves = array.array("H", chunk)
        if sys.byteorder == "big":
            halves.byteswap()
        return array.array("f", struct.pack(f"<{len(halves)}I", *(h << 16 for h in halves)))
    values = array.array(_ARRAY_CODES[dtype], chunk)
    if sys.byteorder == "big":
        values.byteswap()
    return values


def tensor_stats(t: TensorInfo) -> TensorStats | None:
    """min / max / mean / variance / NaN and Inf counts of one tensor, streaming; None if unreadable."""
    if t.dtype not in NUMERIC:
        return None
    chunks = raw_chunks(t)
    if chunks is None:
        return None
    acc = _Acc()
    try:
        for chunk in chunks:
            acc.add(decode(chunk, t.dtype))
    except (OSError, EOFError, ValueError, zipfile.BadZipFile) as exc:
        raise ValueError(f"{t.name}: values cannot be read ({exc})") from exc
    return acc.result()


class _Acc:
    """Streaming moments merged chunk by chunk (Chan et al.), so memory stays one chunk."""

    def __init__(self) -> None:
        self.count = self.nan = self.inf = self.n = 0
        self.mean = self.m2 = 0.0
        self.lo: float | None = None
        self.hi: float | None = None

    def add(self, values: Any) -> None:
        self.count += len(values)
        _np = _numpy()
        if _np is not None:
            v = _np.asarray(values, dtype=_np.float64)
            nan = _np.isnan(v)
            inf = _np.isinf(v)
            self.nan += int(nan.sum())
            self.inf += int(inf.sum())
            finite = v[~(nan | inf)] if (self.nan or self.inf) else v
            n = int(finite.size)
            if not n:
                return
            mean, m2 = float(finite.mean()), float(((finite - finite.mean()) ** 2).sum())
            lo, hi = float(finite.min()), float(finite.max())
        else:
            finite = []
            for x in values:
                x = float(x)
                if math.isnan(x):
                    self.nan += 1
                elif math.isinf(x):
                    self.inf += 1
                else:
                    finite.append(x)
            n = len(finite)
            if not n:
                return
            mean = math.fsum(finite) / n
            m2 = math.fsum((x - mean) ** 2 for x in finite)
            lo, hi = min(finite), max(finite)
        total = self.n + n
        delta = mean - self.mean
        self.m2 += m2 + delta * delta * self.n * n / total
        self.mean += delta * n / total
        self.n = total
        self.lo = lo if self.lo is None else min(self.lo, lo)
        self.hi = hi if self.hi is None else max(self.hi, hi)

    def result(self) -> TensorStats:
        if not self.n:
            return TensorStats(self.count, self.nan, self.inf, None, None, None, None, None)
        constant = self.lo if self.lo == self.hi and self.n == self.count else None
        return TensorStats(self.count, self.nan, self.inf, self.lo, self.hi, self.mean, self.m2 / self.n, constant)


def tensor_digest(t: TensorInfo) -> str | None:
    """sha256 of the tensor's bytes, streaming; None if they cannot be read."""
    chunks = raw_chunks(t)
    if chunks is None:
        return None
    h = hashlib.sha256(f"{t.dtype}{t.shape}".encode())
    try:
        for chunk in chunks:
            h.update(chunk)
    except (OSError, EOFError, ValueError, zipfile.BadZipFile):
        return None
    return h.hexdigest()


def tensor_values(t: TensorInfo, max_elements: int = 1 << 20) -> Any | None:
    """All values of a small tensor (for tests and inspection); None when larger or unreadable."""
    _np = _numpy()
    if t.numel > max_elements or t.dtype not in NUMERIC:
        return None
    chunks = raw_chunks(t)
    if chunks is None:
        return None
    data = b"".join(chunks)
    values = decode(data, t.dtype)
    if _np is not None:
        return values.reshape(t.shape) if t.shape else values.reshape(())
    return list(values)
