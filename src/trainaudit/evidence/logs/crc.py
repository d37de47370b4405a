"""CRC-32C (Castagnoli) for TensorBoard records: a C library when installed, else pure Python.

Fast path: `google-crc32c` (or `crc32c`) from PyPI, ~0.1 µs per small record. The pure-Python
fallback runs at ~9 MB/s (figures in docs/benchmarks.md): slower, but every record is still checked
and the core install needs no compiled dependency.
"""

from __future__ import annotations

from collections.abc import Callable

_MASK_DELTA = 0xA282EAD8
_M32 = 0xFFFFFFFF


def _make_table() -> list[int]:
    table = []
    for n in range(256):
        c = n
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        table.append(c)
    return table


_TABLE = _make_table()


def crc32c_python(data: bytes) -> int:
    """Reference implementation, used when no C library is importable."""
    crc = _M32
    table = _TABLE
    for b in data:
        crc = table[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ _M32


def _pick() -> tuple[Callable[[bytes], int], str]:
    try:
        import google_crc32c

        if getattr(google_crc32c, "implementation", "c") == "c":
            return google_crc32c.value, "google-crc32c"
    except ImportError:
        pass
    try:
        import crc32c as _crc32c

        return _crc32c.crc32c, "crc32c"
    except (ImportError, AttributeError):
        pass
    return crc32c_python, "python"


crc32c, IMPLEMENTATION = _pick()


def unmask(masked: int) -> int:
    """Invert TensorFlow's CRC mask, so a stored value compares with a plain CRC-32C."""
    rot = (masked - _MASK_DELTA) & _M32
    return ((rot >> 17) | (rot << 15)) & _M32
