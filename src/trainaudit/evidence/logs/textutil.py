"""Shared helpers for log readers: tolerant number parsing, and bounded file reads that record a problem."""

from __future__ import annotations

import math
from pathlib import Path

from trainaudit.evidence.logs.series import LogFile, Problem

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


def text_or_problem(path: Path, out: LogFile, label: str = "") -> str | None:
    """The file's text, or None with an 'unreadable' problem (prefixed by label) recorded on out."""
    text, why = read_text(path)
    if text is None:
        out.problems.append(Problem("unreadable", f"{label}{why}"))
    return text


def bytes_or_problem(path: Path, out: LogFile) -> bytes | None:
    """The file's bytes, or None with an 'unreadable' problem recorded on out."""
    try:
        return path.read_bytes()
    except OSError as exc:
        out.problems.append(Problem("unreadable", f"cannot read: {exc.strerror}"))
        return None


def step_of(value: object, default: int) -> int:
    num = number(value)
    if num is None or not math.isfinite(num):
        return default
    return int(num)
