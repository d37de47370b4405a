"""Hold claims against the repository: files, line counts, tests, parameters, stubs, mocks, training artefacts,
logged metric values."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable

from trainaudit.claims import logged
from trainaudit.claims.artefacts import LoggedSeries
from trainaudit.claims.model import CONTRADICTED, UNSUPPORTED, Claim, Issue
from trainaudit.claims.repo import RepoFacts
from trainaudit.claims.vocab import METRICS


def _contradict(c: Claim, message: str, **evidence) -> Issue:
    c.mark("contradicted", message)
    return Issue(CONTRADICTED, c.path, c.line, message, [c.line], evidence)


def _unsupported(c: Claim, message: str, **evidence) -> Issue:
    c.mark("unsupported", message)
    return Issue(UNSUPPORTED, c.path, c.line, message, [c.line], evidence)


def _few(items: Iterable[str], n: int = 3) -> str:
    items = list(items)
    return ", ".join(items[:n]) + (f" and {len(items) - n} more" if len(items) > n else "")


def verify_file(c: Claim, facts: RepoFacts, doc_dir: str) -> Issue | None:
    hits = facts.find(c.subject, doc_dir)
    if c.data.get("absent"):
        if hits:
            return _contradict(c, f"line {c.line} says {c.subject} is not yet created, but {hits[0]} exists")
        c.mark("verified", "absent, as stated")
        return None
    if not hits:
        return _contradict(c, f"line {c.line} refers to {c.subject}, which does not exist in the repository",
                           reference=c.subject)
    stated = c.data.get("lines")
    if stated is not None:
        counts = {h: facts.line_count(h) for h in hits}
        if stated not in counts.values():
            h, n = next(iter(counts.items()))
            return _contradict(c, f"line {c.line} says {c.subject} has {stated} lines; {h} has {n}",
                               stated=stated, actual=counts)
        c.mark("verified", f"{hits[0]} has {stated} lines")
    size = c.data.get("size")
    if size:
        actual = facts.size(hits[0])
        if actual is not None and abs(actual - size) > 0.1 * size + 1024:
            return _contradict(c, f"line {c.line} says {c.subject} is {c.data['size_text']}; {hits[0]} is "
                                  f"{actual:,} bytes", stated=size, actual=actual)
    if c.subject.endswith(".py") and c.data.get("implemented"):
        stubs = [s for h in hits if h.endswith(".py") for s in facts.stubs(h)]
        if stubs:
            names = _few(f"{s.name} (line {s.line}) {s.why}" for s in stubs)
            return _contradict(c, f"line {c.line} claims {c.subject} is implemented, but {names}",
                               stubs=[(s.path, s.line, s.name) for s in stubs])
    c.mark("verified", f"exists: {hits[0]}")
    return None


def verify_tests(c: Claim, facts: RepoFacts, run: dict | None) -> Issue | None:
    if c.data.get("historical"):
        return None
    counts = facts.test_counts
    subject = c.subject
    if subject.endswith(".py"):
        files = [f for f in counts if f == subject or f.endswith("/" + subject)]
    elif subject:
        key = re.sub(r"[^a-z0-9]", "", subject.lower())
        files = [f for f in counts if key in re.sub(r"[^a-z0-9]", "", f.lower())]
    else:
        files = list(counts)
    label = subject or "the repository"
    if not files:
        return _contradict(c, f"line {c.line} claims tests for {label}, but no test file for it exists",
                           test_files=sorted(counts))
    found = sum(counts[f][0] for f in files)
    parametrized = any(counts[f][1] for f in files)
    n = c.data.get("n")
    if n is not None:
        too_few = found < n if (c.data.get("at_least") or parametrized) else found != n
        if too_few:
            return _contradict(c, f"line {c.line} says {n}{'+' if c.data.get('at_least') else ''} tests for "
                                  f"{label}; {_few(files)} define{'s' if len(files) == 1 else ''} {found}",
                               stated=n, found=found, files=files)
    if run and "files" in run and c.data.get("passing"):
        passed = sum(run["files"].get(f, {}).get("passed", 0) for f in files)
        failed = sum(run["files"].get(f, {}).get("failed", 0) for f in files)
        if failed or (n is not None and passed < (c.data.get("k") or n)):
            return _contradict(c, f"line {c.line} says tests for {label} pass; pytest: {passed} passed, "
                                  f"{failed} failed", passed=passed, failed=failed)
        c.mark("verified", f"pytest: {passed} passed")
        return None
    if c.data.get("passing") and run is not None and "error" in run:
        c.mark("unsupported", f"pytest could not run: {run['error']}")
        return None
    c.mark("verified", f"{found} tests defined in {_few(files)}")
    return None


def verify_params(c: Claim, facts: RepoFacts) -> Issue | None:
    counts = facts.param_counts
    if not counts:
        return _unsupported(c, f"line {c.line} states {c.data['text']}, but no checkpoint or run trace gives a "
                               f"parameter count")
    tol = c.data.get("tol", 0.0)
    match = [p for p in counts if abs(p.params - c.value) <= tol]
    if match:
        c.mark("verified", f"{match[0].source} has {match[0].params:,} parameters")
        return None
    return _contradict(c, f"line {c.line} states {c.data['text']}; "
                          + _few(f"{p.source} has {p.params:,}" for p in counts),
                       stated=c.value, found=[(p.source, p.params) for p in counts])


def _stated(c: Claim) -> str:
    """The value as the document wrote it: "97.0%" stays "97.0%"."""
    return f"{c.data.get('name', c.subject)} {c.value:.{c.data.get('decimals', 0)}f}{'%' if c.data.get('pct') else ''}"


def _held_by_series(c: Claim, series: list[LoggedSeries],
                    held: Callable[[Claim, LoggedSeries], str | None]) -> bool:
    """Mark the claim verified by the first series that holds it (`held` says where); whether one did."""
    for s in series:
        where = held(c, s)
        if where:
            c.mark("verified", f"{s.tag} in {s.source}: {where}")
            return True
    return False


def verify_metric(c: Claim, facts: RepoFacts) -> Issue | None:
    series = logged.matching_series(c, facts.series)
    if _held_by_series(c, series, logged.value_held):
        return None
    names = tuple({c.data.get("name", c.subject).lower(), c.subject,
                   *(k for k, v in METRICS.items() if v == c.subject and len(k) > 2)})
    where = facts.find_metric(names, c.value, c.data.get("decimals", 0), c.data.get("pct", False))
    if where:
        c.mark("verified", f"logged at {where}")
        return None
    if series:
        return _contradict(c, f"line {c.line} reports {_stated(c)}, but no logged {c.subject} series holds it: "
                              + _few((logged.summary(c, s) for s in series), 3),
                           stated=c.value, series=_series_evidence(c, series))
    return _unsupported(c, f"line {c.line} reports {_stated(c)}, but no log or result file in the repository has it")


def _series_evidence(c: Claim, series: list[LoggedSeries]) -> list[dict]:
    return [{"tag": s.tag, "source": s.source, "points": len(s.values), "first": logged.first(s.values),
             "last": logged.last(s.values), "best": logged.best(c.subject, s)} for s in series]


def verify_trajectory(c: Claim, facts: RepoFacts) -> Issue | None:
    (a, b), (da, db) = c.value, c.data.get("decimals", (0, 0))
    pct = "%" if c.data.get("pct") else ""
    stated = f"{c.data.get('name', c.subject)} from {a:.{da}f}{pct} to {b:.{db}f}{pct}"
    series = logged.matching_series(c, facts.series)
    if _held_by_series(c, series, logged.trajectory_held):
        return None
    if series:
        return _contradict(c, f"line {c.line} reports {stated}, but no logged {c.subject} series runs so: "
                              + _few((logged.trajectory_summary(c, s) for s in series), 3),
                           stated=[a, b], series=_series_evidence(c, series))
    return _unsupported(c, f"line {c.line} reports {stated}, but no log in the repository has a {c.subject} series")


def verify_training(c: Claim, facts: RepoFacts) -> Issue | None:
    found = facts.artefacts
    readable = [k.path for k in found.checkpoints if k.readable]
    with_points = [f"{g.path} ({g.points} logged values)" for g in found.logs if g.points]
    unread = [f"{rel} (not read)" for rel in facts.unread_models]
    if readable or with_points or unread:
        c.mark("verified", "artefacts: " + _few(readable + with_points + unread, 2))
        return None
    if not found.checkpoints and not found.logs:
        return _contradict(c, f"line {c.line} claims training was completed, but the repository has no "
                              "checkpoint and no training log")
    # Files were found, but none shows a trained model or a logged value: a writer opened and closed unused,
    # or a checkpoint that is not one, is no evidence that training ran.
    empty = [f"{k.path} cannot be read ({k.problem or 'unrecognised'})" for k in found.checkpoints] + \
            [f"{g.path} holds no logged scalar" for g in found.logs]
    return _contradict(c, f"line {c.line} claims training was completed, but the repository has no readable "
                          "checkpoint and no training log with a logged value: " + _few(empty, 3),
                       checkpoints=[k.path for k in found.checkpoints], logs=[(g.path, g.points) for g in found.logs])


def verify_mocks(c: Claim, facts: RepoFacts) -> Issue | None:
    found = facts.mocks
    if found:
        return _contradict(c, f"line {c.line} says mocks are gone, but non-test code has "
                              + _few(f"{what} ({rel}:{ln})" for rel, ln, what in found),
                           mocks=found)
    c.mark("verified", "no mocks found in non-test code")
    return None


def verify_identifiers(c: Claim, facts: RepoFacts) -> list[Issue]:
    """Backticked names claimed implemented must be defined and not be stubs."""
    issues = []
    for name in c.data.get("names", ()):
        defs = facts.definitions.get(name, [])
        if not defs:
            issues.append(_contradict(c, f"line {c.line} claims {name} is implemented, but nothing in the "
                                         "repository defines it", name=name))
            continue
        stubs = [s for rel, _ in defs for s in facts.stubs(rel) if s.name.split(".")[-1] == name
                 or s.name.startswith(name + ".")]
        if stubs:
            issues.append(_contradict(c, f"line {c.line} claims {name} is implemented, but "
                                         + _few(f"{s.name} ({s.path}:{s.line}) {s.why}" for s in stubs),
                                      name=name))
        else:
            c.mark("verified", f"{name} defined in {defs[0][0]}")
    return issues


def verify_all(claims: list[Claim], facts: RepoFacts, doc_dirs: dict[str, str], run: dict | None) -> list[Issue]:
    issues: list[Issue] = []
    for c in claims:
        issue: Issue | None = None
        if c.status == "prediction":
            continue
        if c.kind == "file":
            issue = verify_file(c, facts, doc_dirs.get(c.path, ""))
        elif c.kind == "tests":
            issue = verify_tests(c, facts, run)
        elif c.kind == "params":
            issue = verify_params(c, facts)
        elif c.kind == "metric":
            issue = verify_metric(c, facts)
        elif c.kind == "trajectory":
            issue = verify_trajectory(c, facts)
        elif c.kind == "training":
            issue = verify_training(c, facts)
        elif c.kind == "mocks":
            issue = verify_mocks(c, facts)
        elif c.kind == "implemented":
            issues += verify_identifiers(c, facts)
        if issue:
            issues.append(issue)
    return issues
