"""Test harness: build a project from strings and compare findings with `# expect: slug` markers."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

from trainaudit import audit
from trainaudit.report.model import Report
from trainaudit.rules.registry import get_rule

_MARK = re.compile(r"#\s*expect:\s*([a-z0-9-]+(?:\s*,\s*[a-z0-9-]+)*)")


def write_project(root: Path, files: dict[str, str]) -> Path:
    """Write files (dedented) under root; returns root."""
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return root


def markers(root: Path, slugs: set[str] | None = None) -> set[tuple[str, str, int]]:
    """(slug, path, line) for every `# expect: slug` comment in the project's .py files."""
    out = set()
    for path in sorted(root.rglob("*.py")):
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            m = _MARK.search(line)
            if m:
                for slug in (s.strip() for s in m.group(1).split(",")):
                    # a misspelt marker would make a bad-case test expect, and pass on, nothing
                    assert get_rule(slug) is not None, f"{path}:{n}: '# expect: {slug}' names no rule"
                    if slugs is None or slug in slugs:
                        out.add((slug, path.relative_to(root).as_posix(), n))
    return out


def found(report: Report, slugs: set[str] | None = None) -> set[tuple[str, str, int | None]]:
    return {(f.rule, f.path, f.line) for f in report.findings if slugs is None or f.rule in slugs}


def check_project(root: Path, slugs: set[str], **kwargs) -> Report:
    """Audit and assert the findings of `slugs` sit exactly on the marked lines."""
    report = audit(root, **kwargs)
    assert found(report, slugs) == markers(root, slugs), report.findings
    return report
