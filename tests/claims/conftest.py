"""The claims tests' fixture: write one document (and optional repo files) and check it."""

from __future__ import annotations

import pytest
from claims_tools import write

from trainaudit.claims import check_documents


@pytest.fixture
def check(tmp_path):
    """Write one document (and optional repo files) and check it."""

    def run(doc: str, files: dict[str, str] | None = None, repo: bool = False, name: str = "STATUS.md", **kw):
        for rel, text in (files or {}).items():
            write(tmp_path, rel, text)
        path = write(tmp_path, name, doc)
        return check_documents([path], tmp_path if repo or files else None, **kw)

    return run
