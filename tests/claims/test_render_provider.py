"""Rendering, JSON, the audit provider and the TA801-TA803 rules."""

from __future__ import annotations

import json

from claims_tools import write

from trainaudit.claims import check_documents, render_claims
from trainaudit.claims.provider import find_documents
from trainaudit.context import AuditContext
from trainaudit.finding import Severity
from trainaudit.rules.registry import get_rule
from trainaudit.spec import Spec

DOC = """
# Status
- Sprint 1: COMPLETE
- **Current Sprint**: Sprint 1
- `src/missing.py` created
- Expected accuracy: 95%
- Sprint 2: IN PROGRESS | Sprint 2 is the current focus
"""


def _project(tmp_path):
    write(tmp_path, "docs/PROGRESS_TRACKER.md", DOC)
    write(tmp_path, "notes/meeting.md", "- Sprint 9: COMPLETE\n")
    write(tmp_path, "train.py", "print('train')\n")
    return tmp_path


def test_render_formats(tmp_path):
    _project(tmp_path)
    result = check_documents([tmp_path / "docs/PROGRESS_TRACKER.md"], tmp_path)
    assert result.summary() == "5 claims: 1 contradicted, 3 inconsistent, 1 prediction"
    text = render_claims(result, "text")
    assert text.splitlines()[0] == result.summary()
    assert "docs/PROGRESS_TRACKER.md:4: error: [claim-contradicted] line 4 refers to src/missing.py" in text
    md = render_claims(result, "markdown")
    assert "| Claim | Where | Status | Evidence |" in md and "`docs/PROGRESS_TRACKER.md:2`" in md
    data = json.loads(render_claims(result, "json"))
    assert data["schema"] == "trainaudit.claims/1"
    assert data["counts"]["contradicted"] == 1
    assert {c["line"] for c in data["claims"] if c["status"] == "inconsistent"} == {2, 3, 6}


def test_provider_finds_documents_and_rules_emit_findings(tmp_path):
    root = _project(tmp_path)
    ctx = AuditContext(root, Spec())
    assert find_documents(ctx) == ["docs/PROGRESS_TRACKER.md"]
    findings = []
    for slug in ("claim-inconsistent", "claim-contradicted", "claim-unsupported"):
        rule = get_rule(slug)
        for fn in rule.checks:
            findings += list(fn(ctx))
    got = sorted((f.code, f.location.path, f.line, f.severity) for f in findings)
    assert got == [
        ("TA801", "docs/PROGRESS_TRACKER.md", 2, Severity.ERROR),
        ("TA801", "docs/PROGRESS_TRACKER.md", 3, Severity.ERROR),
        ("TA802", "docs/PROGRESS_TRACKER.md", 4, Severity.ERROR),
        ("TA803", "docs/PROGRESS_TRACKER.md", 5, Severity.INFO),
    ]
    assert all(f.source == "claims" for f in findings)
    inconsistent = next(f for f in findings if f.code == "TA801")
    assert inconsistent.message == "Sprint 1: line 2 says COMPLETE; line 3 says Sprint 1 is the current sprint"
    assert inconsistent.evidence["lines"] == [2, 3]
    assert inconsistent.line == 2


def test_spec_claims_globs_choose_the_documents(tmp_path):
    root = _project(tmp_path)
    ctx = AuditContext(root, Spec(claims=("notes/*.md",)))
    assert find_documents(ctx) == ["notes/meeting.md"]
    assert ctx.get("claims").issues == []
