"""Shared helpers for text-format readers: tolerant number parsing and bounded file reads."""

from __future__ import annotations

import math
from pathlib import Path

MAX_TEXT_BYTES = 200 * 1024 * 1024  # a text log larger than this is reported, not read

_SPECIAL = {"nan": math.nan, "-nan": math.nan, "inf": math.inf, "+inf": math.inf, "-inf": -math.inf,
            "infinity": math.inf, "+infinity": math.inf, "-infinity": -math.inf}


def number(value: object) -> float | None:
    """A float from a JSON/CSV cell: numbers, numeric strings, NaN/Infinity spellings; else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        text = value.strip()
        if not text:
            return None
        special = _SPECIAL.get(text.lower())
        if special is not None:
            return special
        try:
            return float(text)
        except ValueError:
            return None
    return None


def read_text(path: Path) -> tuple[str | None, str | None]:
    """(text, None) or (None, why it could not be read)."""
    try:
        size = path.stat().st_size
        if size > MAX_TEXT_BYTES:
            return None, f"{size} bytes is larger than the {MAX_TEXT_BYTES}-byte limit for text logs"
        return path.read_text(encoding="utf-8", errors="replace"), None
    except OSError as exc:
        return None, f"cannot read: {exc.strerror}"


def step_of(value: object, default: int) -> int:
    num = number(value)
    if num is None or not math.isfinite(num):
        return default
    return int(num)
