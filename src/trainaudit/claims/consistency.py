"""Hold a document against itself: conflicting states and values, totals and durations that do not add up."""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable

from trainaudit.claims import vocab as V
from trainaudit.claims.extract import Extraction
from trainaudit.claims.model import INCONSISTENT, Claim, Issue

_CLASS_ORDER = ("done", "active", "open", "deferred")


def _lines(nums: Iterable[int]) -> str:
    nums = sorted(set(nums))
    return f"line {nums[0]}" if len(nums) == 1 else "lines " + ", ".join(map(str, nums))


def _says(nums: Iterable[int]) -> str:
    nums = sorted(set(nums))
    return f"{_lines(nums)} {'says' if len(nums) == 1 else 'say'}"


def _fmt(v: float) -> str:
    return f"{v:,.0f}" if float(v).is_integer() else f"{v:g}"


def _issue(path: str, claims: list[Claim], message: str, **evidence) -> Issue:
    for c in claims:
        c.mark("inconsistent", message)
    lines = sorted({c.line for c in claims})
    return Issue(INCONSISTENT, path, lines[0], message, lines, evidence)


def _state_word(c: Claim) -> str:
    w = c.data.get("word", "")
    if w.startswith("current "):
        return f"{c.subject} is the {w}"
    if w in ("active work", "currently in"):
        return f"{c.subject} is the work in progress"
    return w if not c.data.get("symbol") else f"{w} ({V.STATE_WORD[c.value]})"


def _bare_word(c: Claim) -> str:
    w = c.data.get("word", "")
    return V.STATE_WORD[c.value] if c.data.get("symbol") or w in ("active work", "currently in") or \
        w.startswith("current ") else w


def check_states(path: str, claims: list[Claim]) -> list[Issue]:
    issues: list[Issue] = []
    states = [c for c in claims if c.kind == "state"]
    by_id: dict[str, list[Claim]] = defaultdict(list)
    for c in states:
        by_id[c.subject].append(c)
    for ident, group in by_id.items():
        classes: dict[str, list[Claim]] = defaultdict(list)
        for c in group:
            classes[c.value].append(c)
        if len(classes) < 2:
            continue
        parts = []
        for cls in _CLASS_ORDER:
            if cls in classes:
                cs = classes[cls]
                parts.append(f"{_says(c.line for c in cs)} {_state_word(cs[0])}")
        issues.append(_issue(path, group, f"{ident}: " + "; ".join(parts), item=ident,
                             states={k: sorted(c.line for c in v) for k, v in classes.items()}))
    # A sprint stated complete while one of its epics is still open or in progress.
    for ident, group in by_id.items():
        m = re.fullmatch(r"(Sprint \d+) Epic .+", ident)
        if not m or m.group(1) not in by_id:
            continue
        parent_done = [c for c in by_id[m.group(1)] if c.value == "done"]
        child_open = [c for c in group if c.value in ("active", "open")]
        if parent_done and child_open:
            msg = (f"{m.group(1)}: {_says(c.line for c in parent_done)} {parent_done[0].data.get('word')}; "
                   f"{_says(c.line for c in child_open)} {ident} is {_bare_word(child_open[0])}")
            issues.append(_issue(path, parent_done + child_open, msg, item=m.group(1), part=ident))
    # "Current Sprint: Sprint 1" rules out any other sprint being active.
    for cur in (c for c in states if c.data.get("current_kind")):
        kind = cur.data["current_kind"]
        others = [c for c in states if c.data.get("id_kind") == kind and c.subject != cur.subject
                  and c.value == "active"]
        if others:
            o = others[0]
            msg = (f"line {cur.line} says the current {kind} is {cur.subject}; "
                   f"{_says(c.line for c in others)} {o.subject} is {o.data.get('word')}")
            issues.append(_issue(path, [cur, *others], msg, item=cur.subject, others=[o.subject for o in others]))
    return issues


def check_document_status(path: str, claims: list[Claim], ex: Extraction) -> list[Issue]:
    status = next((c for c in claims if c.kind == "docstatus"), None)
    if status is None or not ex.open_items:
        return []
    opened = [ln for ln, _ in ex.open_items]
    words = sorted({w.upper() for _, w in ex.open_items})
    msg = (f"line {status.line} gives the document's status as {status.data['word']}; "
           f"{_lines(opened)} list work still {' / '.join(words)}")
    status.mark("inconsistent", msg)
    return [Issue(INCONSISTENT, path, status.line, msg, [status.line, *opened], {"open_items": ex.open_items})]


def check_mocks(path: str, claims: list[Claim], ex: Extraction) -> list[Issue]:
    negatives = [c for c in claims if c.kind == "mocks"]
    admissions = [(ln, t) for ln, t in ex.mock_admissions if not re.search(r"\bdata\b", t, re.I)]
    if not negatives or not admissions:
        return []
    neg = negatives[0]
    msg = (f"line {neg.line} says mocks were removed or are absent; {_lines(ln for ln, _ in admissions)} "
           f"describe {admissions[0][1].lower()}s in use")
    for c in negatives:
        c.mark("inconsistent", msg)
    return [Issue(INCONSISTENT, path, neg.line, msg, sorted({neg.line, *(ln for ln, _ in admissions)}),
                  {"admissions": admissions})]


def check_tests(path: str, claims: list[Claim]) -> list[Issue]:
    issues = []
    tests = [c for c in claims if c.kind == "tests"]
    for c in tests:
        k, n = c.data.get("k"), c.data.get("n")
        if (k is not None and n is not None and k < n and c.data.get("passing") and c.data.get("presented_all")
                and not c.data.get("historical")):
            issues.append(_issue(path, [c], f"line {c.line} presents {k}/{n} tests passing as all passing; "
                                            f"{n - k} of {n} are not passing", k=k, n=n))
    by_subject: dict[str, list[Claim]] = defaultdict(list)
    for c in tests:
        if c.value is not None and c.subject and not c.data.get("historical") and not c.data.get("at_least"):
            by_subject[_norm(c.subject)].append(c)
    for group in by_subject.values():
        values = {c.value for c in group}
        if len(values) > 1:
            parts = "; ".join(f"{_says(c.line for c in group if c.value == v)} {v} tests" for v in sorted(values))
            issues.append(_issue(path, group, f"{group[0].subject} tests: {parts}", values=sorted(values)))
    return issues


# Up to two trailing extensions ("subset_1k.pkl.gz" and "subset_1k/" name one artefact).
_EXTS_TAIL = re.compile(r"(?:\.(?:py|ipynb|pkl|gz|csv|json|pt|pth|ckpt|yaml|yml|md|txt)){1,2}$")


def _norm(s: str) -> str:
    base = _EXTS_TAIL.sub("", s.rstrip("/").rsplit("/", 1)[-1])
    return re.sub(r"[^a-z0-9]", "", base.lower())


def check_params(path: str, claims: list[Claim]) -> list[Issue]:
    issues = []
    by_subject: dict[str, list[Claim]] = defaultdict(list)
    for c in claims:
        if c.kind == "params" and c.subject:
            by_subject[_norm(c.subject)].append(c)
    for group in by_subject.values():
        if len(group) < 2:
            continue
        ok = all(abs(a.value - b.value) <= max(a.data["tol"], b.data["tol"]) for a in group for b in group)
        if ok:
            for c in group:
                c.mark("verified", f"stated consistently on {_lines(x.line for x in group)}")
            continue
        parts = "; ".join(f"line {c.line} says {c.data['text']}" for c in group)
        issues.append(_issue(path, group, f"{group[0].subject}: {parts}"))
    return issues


def _distinguished(a: Claim, b: Claim) -> bool:
    """Two values of one metric that describe different things (split, model state, stage, item, row)."""
    qa, qb = a.data.get("quals", frozenset()), b.data.get("quals", frozenset())
    for cls in V.CONTRASTS:
        xa, xb = qa & cls, qb & cls
        if xa and xb and xa != xb:
            return True
    if a.path == b.path and a.line == b.line:
        return True  # one line stating two values describes two things ("initial loss 2.3, final 0.2")
    ia, ib = set(a.data.get("ids", ())), set(b.data.get("ids", ()))
    if (ia or ib) and not ia & ib:
        return True  # a value scoped to an item (Exp 2) is not the same quantity as another item's or a bare one
    if a.data.get("row") and b.data.get("row") and a.data["row"] != b.data["row"]:
        return True
    return False


def _same_value(a: Claim, b: Claim) -> bool:
    va, vb = a.value, b.value
    if a.data.get("pct") != b.data.get("pct"):  # 0.93 vs 93%
        va, vb = (va / 100 if a.data.get("pct") else va), (vb / 100 if b.data.get("pct") else vb)
    if a.data.get("approx") or b.data.get("approx"):
        return abs(va - vb) <= 0.1 * max(abs(va), abs(vb))
    d = min(a.data.get("decimals", 0), b.data.get("decimals", 0))
    return round(va, d) == round(vb, d) or abs(va - vb) < 1e-9


def check_metrics(path: str, claims: list[Claim]) -> list[Issue]:
    issues = []
    by_key: dict[str, list[Claim]] = defaultdict(list)
    for c in claims:
        if c.kind == "metric":
            by_key[c.subject].append(c)
    for key, group in by_key.items():
        conflicting: list[Claim] = []
        for i, a in enumerate(group):
            for b in group[i + 1:]:
                if not _same_value(a, b) and not _distinguished(a, b):
                    conflicting += [x for x in (a, b) if x not in conflicting]
        if not conflicting:
            continue
        values: dict[float, list[int]] = defaultdict(list)
        for c in conflicting:
            values[c.value].append(c.line)
        pct = {c.value for c in conflicting if c.data.get("pct")}
        parts = "; ".join(f"{_says(ls)} {_fmt(v)}{'%' if v in pct else ''}"
                          for v, ls in sorted(values.items(), key=lambda kv: min(kv[1])))
        issues.append(_issue(path, conflicting, f"{conflicting[0].data.get('name', key)}: {parts}", metric=key,
                             values={_fmt(v): ls for v, ls in values.items()}))
    return issues


def check_splits(path: str, claims: list[Claim]) -> list[Issue]:
    issues = []
    by_unit: dict[str, list[Claim]] = defaultdict(list)
    for c in claims:
        if c.kind == "split":
            by_unit[c.data["unit"]].append(c)
    for unit, group in by_unit.items():
        roles: dict[str, dict[int, list[int]]] = defaultdict(lambda: defaultdict(list))
        for c in group:
            roles[c.subject][c.value].append(c.line)
        if not any(len(v) > 1 for v in roles.values()):
            continue
        # Group lines by the split they state: one tuple per set of lines.
        by_line: dict[int, dict[str, int]] = defaultdict(dict)
        for c in group:
            by_line[c.line][c.subject] = c.value
        stated: dict[tuple, list[int]] = defaultdict(list)
        for ln, vals in sorted(by_line.items()):
            stated[tuple(vals.get(r) for r in ("train", "val", "test"))].append(ln)
        merged: dict[str, list[int]] = defaultdict(list)
        for tup, ls in stated.items():
            merged["/".join("?" if v is None else _fmt(v) for v in tup)] += ls
        # Single-role lines next to each other combine ("70 studies", "15 studies", "15 studies").
        parts = "; ".join(f"{_says(ls)} {desc}" for desc, ls in _combine(group))
        conflicted = [c for c in group if len(roles[c.subject]) > 1]
        issues.append(_issue(path, conflicted, f"train/val/test split in {unit}: {parts}", unit=unit,
                             values={r: {_fmt(k): v for k, v in d.items()} for r, d in roles.items()}))
    return issues


def _combine(group: list[Claim]) -> list[tuple[str, list[int]]]:
    """Describe each statement of a split, joining single-role lines that follow each other."""
    lines = sorted({c.line for c in group})
    chunks: list[list[int]] = []
    for ln in lines:
        if chunks and ln - chunks[-1][-1] <= 2 and len({c.subject for c in group if c.line in chunks[-1]}) < 3 \
                and not any(c.subject in {x.subject for x in group if x.line in chunks[-1]}
                            for c in group if c.line == ln):
            chunks[-1].append(ln)
        else:
            chunks.append([ln])
    out = []
    for ch in chunks:
        vals = {c.subject: c.value for c in group if c.line in ch}
        desc = "/".join(_fmt(vals[r]) if r in vals else "?" for r in ("train", "val", "test"))
        out.append((f"{desc} {group[0].data['unit']}", ch))
    return out


def check_totals(path: str, claims: list[Claim]) -> list[Issue]:
    issues = []
    for c in claims:
        if c.kind != "total":
            continue
        t_lo, t_hi = c.value
        lo, hi = c.data["lo"], c.data["hi"]
        tol = c.data.get("tol", 0.0)
        if c.data["unit"] == "hours":
            tol = max(tol, 0.01 * max(t_hi, hi))
        if lo - tol <= t_hi and t_lo <= hi + tol:
            part_lines = [p[0] for p in c.data["parts"]]
            c.mark("verified", f"matches its parts ({_lines(part_lines)})" if part_lines else
                   f"{_fmt(lo)} items are listed")
            continue
        form = c.data["form"]
        if form == "count":
            msg = f"line {c.line} announces {c.data['stated']} but the list that follows has {_fmt(lo)} items"
        else:
            shown = _hours(lo, hi) if c.data["unit"] == "hours" else (
                _fmt(lo) if lo == hi else f"{_fmt(lo)}-{_fmt(hi)}")
            part_lines = sorted({p[0] for p in c.data["parts"]})
            if form == "sum":
                msg = f"line {c.line} says {c.subject}, but the parts add up to {shown}"
            else:
                msg = (f"line {c.line} states a total of {c.data['stated']}; the parts on "
                       f"{_lines(part_lines)} add up to {shown}")
        issues.append(_issue(path, [c], msg, stated=[t_lo, t_hi], parts_sum=[lo, hi], unit=c.data["unit"]))
    return issues


def _hours(lo: float, hi: float) -> str:
    def one(h: float) -> str:
        if h >= 168:
            return f"{h / 168:.2f} weeks"
        if h >= 24:
            return f"{h / 24:.1f} days"
        return f"{h:g} hours"
    return one(lo) if abs(lo - hi) < 1e-9 else f"{one(lo)} to {one(hi)}"


def check_durations(path: str, claims: list[Claim]) -> list[Issue]:
    issues = []
    for c in claims:
        if c.kind != "duration":
            continue
        span, stated, unit = c.data["span"], c.value, c.data["unit_hours"]
        m = re.search(r"\d+(?:\.(\d+))?", c.data["stated_text"])
        dec = len(m.group(1)) if m and m.group(1) else 0
        tol = 0.5 * unit * 10 ** -dec + 1e-6
        if c.data["approx"]:
            tol = max(tol, 0.15 * span)
        candidates = [span, span + 24] if c.data["date_only"] else [span]
        if any(abs(stated - s) <= tol for s in candidates):
            c.mark("verified", f"{c.subject} is {_hours(span, span)}")
            continue
        msg = f"line {c.line} says {c.data['stated_text']} for {c.subject}, which is {_hours(span, span)}"
        issues.append(_issue(path, [c], msg, stated_hours=stated, range_hours=span))
    return issues


def check_files(path: str, claims: list[Claim]) -> list[Issue]:
    issues = []
    files = [c for c in claims if c.kind == "file"]
    by_ref: dict[str, list[Claim]] = defaultdict(list)
    for c in files:
        if c.data.get("lines") is not None:
            by_ref[_norm(c.subject)].append(c)
    for group in by_ref.values():
        counts = {c.data["lines"] for c in group}
        if len(counts) > 1:
            parts = "; ".join(f"line {c.line} says {c.data['lines']} lines" for c in group)
            issues.append(_issue(path, group, f"{group[0].subject}: {parts}"))
    by_stem: dict[str, list[Claim]] = defaultdict(list)
    for c in files:
        by_stem[_norm(c.subject)].append(c)
    for group in by_stem.values():
        absent = [c for c in group if c.data.get("absent")]
        present = [c for c in group if c.data.get("created")]
        if absent and present:
            msg = (f"{absent[0].subject}: {_says(c.line for c in present)} it was created "
                   f"({present[0].subject}); {_says(c.line for c in absent)} it is not yet created")
            issues.append(_issue(path, absent + present, msg, artifact=absent[0].subject))
    return issues


def check_all(path: str, ex: Extraction) -> list[Issue]:
    claims = ex.claims
    out: list[Issue] = []
    for fn in (check_states, check_tests, check_params, check_metrics, check_splits, check_totals,
               check_durations, check_files):
        out += fn(path, claims)
    out += check_document_status(path, claims, ex)
    out += check_mocks(path, claims, ex)
    return out
