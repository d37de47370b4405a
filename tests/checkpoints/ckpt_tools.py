"""Helpers for checkpoint tests: projects on disk, payload pickles, zip rewriting, running one rule."""

from __future__ import annotations

import io
import textwrap
import zipfile
from pathlib import Path

from trainaudit.context import AuditContext
from trainaudit.engine import judge
from trainaudit.finding import Finding
from trainaudit.rules.registry import get_rule
from trainaudit.spec import Spec


def write_project(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    return root


def findings(root: Path, slug: str, spec: Spec | None = None, source: str | None = "checkpoint") -> list[Finding]:
    """Run one rule's checks through the engine's judge (crash isolation included)."""
    ctx = AuditContext(root, spec or Spec())
    rule = get_rule(slug)
    assert rule is not None, slug
    out = judge(ctx, [rule])
    crashes = [f for f in out if f.rule == "rule-crash"]
    assert not crashes, crashes[0].message
    return [f for f in out if source is None or f.source == source]


def replace_member(path: Path, suffix: str, data: bytes, extra: dict[str, bytes] | None = None) -> None:
    """Rewrite a torch zip with the member ending in `suffix` replaced (and extra members added)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as dst:
        for info in src.infolist():
            dst.writestr(info.filename, data if info.filename.endswith(suffix) else src.read(info))
        prefix = src.infolist()[0].filename.split("/")[0]
        for name, blob in (extra or {}).items():
            dst.writestr(f"{prefix}/{name}", blob)
    path.write_bytes(buf.getvalue())


def data_pkl(path: Path) -> bytes:
    with zipfile.ZipFile(path) as zf:
        return zf.read(next(n for n in zf.namelist() if n.endswith("/data.pkl")))
