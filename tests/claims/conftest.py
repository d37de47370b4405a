"""Helpers for the claims tests: write documents and small repositories into tmp_path."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from trainaudit.claims import check_documents


def write(root: Path, rel: str, text: str) -> Path:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


def issues_of(result, rule: str | None = None) -> list[tuple[str, int, list[int]]]:
    return sorted((i.rule, i.line, i.lines) for i in result.issues if rule is None or i.rule == rule)


@pytest.fixture
def check(tmp_path):
    """Write one document (and optional repo files) and check it."""

    def run(doc: str, files: dict[str, str] | None = None, repo: bool = False, name: str = "STATUS.md", **kw):
        for rel, text in (files or {}).items():
            write(tmp_path, rel, text)
        path = write(tmp_path, name, doc)
        return check_documents([path], tmp_path if repo or files else None, **kw)

    return run
