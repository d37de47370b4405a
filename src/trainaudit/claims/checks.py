"""The claims checker: read status documents, extract claims, and hold them against each other and the repo."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from trainaudit.claims.artefacts import Artefacts, LoggedSeries, ParamCount
from trainaudit.claims.consistency import check_all
from trainaudit.claims.encoding import read_document
from trainaudit.claims.extract import extract
from trainaudit.claims.model import UNSUPPORTED, ClaimsResult, Document, Issue
from trainaudit.claims.repo import RepoFacts
from trainaudit.claims.structure import parse
from trainaudit.claims.verify import verify_all
from trainaudit.evidence.files import ProjectFiles

MAX_DOCUMENTS = 200


def _display(path: Path, repo: Path | None) -> str:
    if repo is not None:
        try:
            return path.resolve().relative_to(repo.resolve()).as_posix()
        except ValueError:
            pass
    return str(path)


def check_documents(
    paths: Iterable[Path | str],
    repo: Path | None = None,
    run_tests: bool = False,
    *,
    param_counts: list[ParamCount] | None = None,
    series: list[LoggedSeries] | None = None,
    artefacts: Artefacts | None = None,
    files: ProjectFiles | None = None,
    test_timeout: float = 600.0,
) -> ClaimsResult:
    """Check status documents; with `repo`, also against that repository (and its pytest run if asked).

    `param_counts`, `series` and `artefacts` are what the audit's checkpoint, trace and log collectors found;
    each one not given is collected from `repo` by the same collectors when a claim needs it. `files` is the
    audit's listing of `repo`; without it the repository is walked when a claim needs it.
    """
    repo = Path(repo) if repo is not None else None
    result = ClaimsResult(repo=str(repo) if repo is not None else None)
    doc_dirs: dict[str, str] = {}
    for i, p in enumerate(paths):
        path = Path(p)
        shown = _display(path, repo)
        if i >= MAX_DOCUMENTS:
            result.documents.append(Document(shown, skipped=f"more than {MAX_DOCUMENTS} documents; not read"))
            continue
        doc = Document(shown)
        result.documents.append(doc)
        text = read_document(path)
        doc.encoding, doc.repaired, doc.skipped = text.encoding, text.repaired, text.skipped
        if text.text is None:
            continue
        doc.lines = text.text.count("\n") + (1 if text.text and not text.text.endswith("\n") else 0)
        structure = parse(text.text)
        ex = extract(shown, structure)
        doc.notes += structure.notes
        if ex.truncated:
            doc.notes.append("document too large or deeply structured: analysis was capped")
        if structure.code_lines:
            doc.notes.append(f"{structure.code_lines} lines of code blocks skipped")
        if not ex.claims:
            doc.notes.append("no claims found")
        for c in ex.claims:
            if c.kind == "prediction":
                c.status = "prediction"
        result.issues += check_all(shown, ex)
        result.claims += ex.claims
        doc_dirs[shown] = os.path.dirname(shown) if repo is not None and not os.path.isabs(shown) else ""
        result.issues += _predictions_note(shown, ex.claims)
    if repo is not None:
        facts = RepoFacts(repo, param_counts, series, artefacts, files)
        if run_tests:
            result.tests_run = facts.run_pytest(timeout=test_timeout) if facts.test_counts else {
                "error": "no test files found"}
        result.issues += verify_all(result.claims, facts, doc_dirs, result.tests_run)
    result.issues.sort(key=lambda i: (i.path, i.line, i.rule))
    return result


def _predictions_note(path: str, claims: list) -> list[Issue]:
    preds = [c for c in claims if c.kind == "prediction"]
    if not preds:
        return []
    total = len(claims)
    lines = sorted({c.line for c in preds})
    shown = ", ".join(map(str, lines[:20])) + (f" and {len(lines) - 20} more" if len(lines) > 20 else "")
    msg = (f"{len(preds)} of {total} claims are predictions or self-assessments "
           f"(expected, estimated, confidence, scores): lines {shown}")
    return [Issue(UNSUPPORTED, path, lines[0], msg, lines, {"predictions": [(c.line, c.value) for c in preds]},
                  severity="info")]
