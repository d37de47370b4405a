"""The fixture corpus: each defect fixture matches its `# expect:` lines; real-world training stays clean."""

from __future__ import annotations

from pathlib import Path

import pytest
from harness import found, markers

from trainaudit import audit

FIXTURES = Path(__file__).parent / "fixtures"
BAD = sorted(p for p in (FIXTURES / "bad").iterdir() if p.is_dir())
LEGIT = sorted(p for p in (FIXTURES / "legit").iterdir() if p.is_dir())


@pytest.mark.parametrize("project", BAD, ids=[p.name for p in BAD])
def test_defect_fixture_findings_sit_on_marked_lines(project):
    slug = project.name
    expected = markers(project, {slug})
    assert expected, f"fixture {slug} has no '# expect: {slug}' marker"
    report = audit(project)
    assert found(report, {slug}) == expected
    assert report.verdict.value == "invalid" or report.rule(slug).severity != "error"


@pytest.mark.parametrize("project", LEGIT, ids=[p.name for p in LEGIT])
def test_legitimate_training_code_has_no_error_finding(project):
    report = audit(project)
    errors = [(f.rule, str(f.location), f.message) for f in report.findings if f.severity.value == "error"]
    assert errors == []
    assert report.summary["entry_points"], "the corpus project should be recognised as training code"


CORPUS = [*BAD, *LEGIT, *sorted(p for p in (FIXTURES.parent.parent / "examples").iterdir() if p.is_dir())]


def test_findings_do_not_depend_on_which_trees_reading_kept(monkeypatch):
    """Reading keeps only the trees the checks will probably read (program.likely_read) and parses the others
    again on demand: a wrong guess may cost time, never change a finding, a line or a message."""
    from trainaudit.evidence import program, source

    reparsed = []
    tree = source.SourceFile.tree.fget

    def counting(sf):
        if sf._tree is None and sf.parsed:
            reparsed.append(sf.path)
        return tree(sf)

    reports = {}
    for keep in (True, False):
        monkeypatch.setattr(program, "likely_read", lambda sf, keep=keep: keep)
        monkeypatch.setattr(source.SourceFile, "tree", property(counting))
        reports[keep] = [audit(p).to_dict() for p in CORPUS]
        assert bool(reparsed) is not keep
    assert reports[True] == reports[False]
