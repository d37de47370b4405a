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
    again on demand, their facts (source.FILE_FACTS) computed when first parsed: a wrong guess may cost time,
    never change a finding, a line or a message."""
    from trainaudit.evidence import program, source

    reparsed = []
    tree = source.SourceFile.tree.fget

    def counting(sf):
        if sf._tree is None and sf.parsed:
            reparsed.append(sf.path)
        return tree(sf)

    reports = {}
    for keep in (True, False):
        monkeypatch.setattr(program, "likely_read", lambda files, keep=keep: lambda sf: keep)
        monkeypatch.setattr(source.SourceFile, "tree", property(counting))
        reports[keep] = [audit(p).to_dict() for p in CORPUS]
        assert bool(reparsed) is not keep
    assert reports[True] == reports[False]


def test_a_file_parsed_again_deeper_in_the_stack_parses_as_it_did_when_read():
    """CPython parses only as deep as the stack has room: a file nested as deep as reading could parse raised
    RecursionError out of audit() when a check parsed it again from deep in its own calls."""
    import ast

    from trainaudit.evidence.source import reparse

    def parses(n: int) -> bool:
        try:
            ast.parse("-" * n + "1")
            return True
        except (RecursionError, MemoryError):  # the stack's room, or the parser's own limit further out
            return False

    low, high = 1, 100_000  # the deepest nesting that parses here
    while low < high:
        mid = (low + high + 1) // 2
        low, high = (mid, high) if parses(mid) else (low, mid - 1)
    text = "-" * low + "1"

    def deeper(frames: int) -> tuple[bool, ast.Module]:
        if frames:
            return deeper(frames - 1)
        return parses(low), reparse(text, "deep.py")

    plain, tree = deeper(200)
    assert not plain, "the plain parse should fail this deep; the test would prove nothing"
    node, depth = tree.body[0].value, 0  # the same tree: `low` nested minus signs around 1
    while isinstance(node, ast.UnaryOp):
        node, depth = node.operand, depth + 1
    assert (depth, node.value) == (low, 1)
