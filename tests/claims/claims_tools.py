"""Helpers for the claims tests: write documents and small repositories into tmp_path."""

from __future__ import annotations

import textwrap
from pathlib import Path


def write(root: Path, rel: str, text: str) -> Path:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


def issues_of(result, rule: str | None = None) -> list[tuple[str, int, list[int]]]:
    return sorted((i.rule, i.line, i.lines) for i in result.issues if rule is None or i.rule == rule)
