"""Find claims in a parsed status document, each with its line and the structure around it."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from trainaudit.claims import vocab as V
from trainaudit.claims.model import Claim
from trainaudit.claims.structure import Block, Structure

MAX_CLAIMS = 20_000


@dataclass
class Extraction:
    """Claims of one document plus the facts the consistency checks need beside them."""

    claims: list[Claim] = field(default_factory=list)
    open_items: list[tuple[int, str]] = field(default_factory=list)  # (line, state word) outside plan sections
    mock_admissions: list[tuple[int, str]] = field(default_factory=list)  # (line, text)
    truncated: bool = False


def number(s: str) -> float:
    return float(s.replace(",", ""))


def decimals(s: str) -> int:
    s = s.replace(",", "")
    return len(s.split(".", 1)[1]) if "." in s else 0


def in_plan(block: Block) -> bool:
    """Inside a section of plans, next steps or requirements: its lines are not results."""
    return any(V.PLAN_HEADING_RE.search(h) for _, h in block.headings) or (
        block.kind == "heading" and bool(V.PLAN_HEADING_RE.search(block.text))
    )


def is_prediction(text: str) -> re.Match[str] | None:
    return V.PREDICTION_RE.search(text)


class _Extractor:
    def __init__(self, path: str, structure: Structure) -> None:
        self.path = path
        self.s = structure
        self.out = Extraction(truncated=structure.truncated)
        self.front_limit = 15  # lines of a document's front matter, where its overall status is given

    def add(self, kind: str, block: Block, subject: str = "", value=None, **data) -> Claim | None:
        if len(self.out.claims) >= MAX_CLAIMS:
            self.out.truncated = True
            return None
        c = Claim(kind, self.path, block.line, block.text[:300], subject, value, data=data)
        self.out.claims.append(c)
        return c

    def run(self) -> Extraction:
        for b in self.s.blocks:
            if len(self.out.claims) >= MAX_CLAIMS:
                self.out.truncated = True
                break
            text = b.text
            if not text:
                continue
            plan = in_plan(b)
            pred = is_prediction(text)
            requirement = bool(V.REQUIREMENT_RE.search(text))
            imperative = bool(V.PLAN_START_RE.match(text)) and b.kind != "heading"
            if pred:
                self.add("prediction", b, pred.group(0).strip(), pred.group(0).strip())
            if not pred and not requirement:
                self.states(b, text, imperative)
                self.open_and_doc_status(b, text, plan)
            self.mocks(b, text, plan or imperative)
            self.inline_sums(b, text)  # arithmetic is checkable even inside plans and questions
            if pred or requirement or plan or imperative:
                continue
            self.tests(b, text)
            self.files(b)
            self.params(b, text)
            self.metrics(b, text)
            self.splits(b, text)
            self.training(b, text)
            self.implemented(b, text)
            self.durations(b, text)
        self.list_totals()
        self.table_totals()
        self.counted_lists()
        return self.out

    # -- completion states -----------------------------------------------------------------
    def _ids(self, b: Block, text: str) -> list[tuple[int, int, str, str]]:
        """(start, end, id, kind) of the ids in a line; bare epics qualified by a sprint."""
        found = [(m.start(), m.end(), *V.canon_id(m)) for m in V.ID_RE.finditer(text)]
        sprint = next((i for _, _, i, k in found if k == "sprint"), None)
        if sprint is None:
            for _, h in reversed(b.headings):
                m = re.search(r"\bSprint\s*(\d+)\b(?!\s*[-–—:,]?\s*Epic)", h, re.I)
                if m:
                    sprint = f"Sprint {int(m.group(1))}"
                    break
        out = []
        for s, e, ident, kind in found:
            if kind == "epic" and not ident.startswith("Sprint") and sprint:
                ident = f"{sprint} {ident}"
            out.append((s, e, ident, kind))
        return out

    def states(self, b: Block, text: str, imperative: bool) -> None:
        ids = self._ids(b, text)
        if not ids:
            return
        found: dict[str, tuple[str, str, bool, int]] = {}  # id -> (class, word, symbol, distance)
        lead = re.match(r"^\s*(?:\d+[.)]\s*)?(\[[^\]]{1,20}\]|✅|✔️?|☑️?|⏳|🔄)\s*", text)
        if lead:
            m = V.STATE_RE.fullmatch(lead.group(1)) or V.STATE_RE.search(lead.group(1))
            first = ids[0]
            # A leading mark belongs to an id only if the id is what the line is about (its first words).
            if m and first[0] <= lead.end() + 2:
                found[first[2]] = (_state_class(m), m.group(0), m.group(0) in V.SYMBOLS, 0)
        elif imperative:
            return
        for m in V.STATE_RE.finditer(text):
            if lead and m.start() < lead.end():
                continue
            cls = _state_class(m)
            symbol = m.group(0) in V.SYMBOLS
            before = [i for i in ids if i[1] <= m.start()]
            target = before[-1] if before else min(ids, key=lambda i: i[0] - m.end())
            dist = abs(m.start() - target[1]) if before else abs(target[0] - m.end())
            prev = found.get(target[2])
            # Words beat symbols (a trailing check mark next to "2/4 IN PROGRESS"); then the closest word.
            if prev is None or (prev[2] and not symbol) or (prev[2] == symbol and dist < prev[3]):
                found[target[2]] = (cls, m.group(0), symbol, dist)
        # "Current Sprint: Sprint 1", "currently in Sprint 1", "Sprint: Sprint 1" under an "Active Work" heading.
        cur = re.match(r"^\s*(?:current|active)\s+(\w+)\s*:\s*", text, re.I)
        active_heading = any(re.search(r"\bactive\s+work\b|\bcurrent(?:ly)?\s+work", h, re.I) for _, h in b.headings)
        field_kind = re.match(r"^\s*(sprint|epic|phase|milestone|stage|task|ticket|story)\s*:\s*", text, re.I)
        current_kind = None

        def active_after(pos: int, word: str) -> None:
            """The first id after `pos` is the work in progress, unless the line already gives it a state."""
            head = next((i for i in ids if i[0] >= pos), None)
            if head and head[2] not in found:
                found[head[2]] = ("active", word, False, 0)

        if cur:
            current_kind = cur.group(1).lower()
            active_after(cur.end(), f"current {current_kind}")
        elif active_heading and field_kind:
            active_after(field_kind.end(), "active work")
        for m in re.finditer(r"\bcurrently\s+(?:in|on|working\s+on)\s+", text, re.I):
            active_after(m.end(), "currently in")
        kinds = {i[2]: i[3] for i in ids}
        for ident, (cls, word, symbol, _) in found.items():
            self.add("state", b, ident, cls, word=word, symbol=symbol, id_kind=kinds.get(ident, ""),
                     current_kind=current_kind if cur and word.startswith("current") else None)

    def open_and_doc_status(self, b: Block, text: str, plan: bool) -> None:
        status = re.match(r"^\s*(?:overall\s+|project\s+|document\s+)?status\s*:\s*(.+)$", text, re.I)
        if status and b.line <= self.front_limit:
            m = V.STATE_RE.search(status.group(1))
            if m and m.lastgroup == "done" and m.group(0) not in V.SYMBOLS:
                self.add("docstatus", b, "document status", "done", word=m.group(0))
            return
        for m in re.finditer(r"\b(?:to\s*do|todo|pending|not\s+started|in[\s-]progress)\b", text, re.I):
            if not any(re.search(r"\b(?:optional|future|later|nice\s+to\s+have|backlog)\b", h, re.I)
                       for _, h in b.headings):
                self.out.open_items.append((b.line, m.group(0)))
                break

    # -- mocks ----------------------------------------------------------------------------
    _NO_MOCKS = re.compile(
        r"\b(?:no|zero|without|removed?|eliminated?|replaced)\b[^.;:]{0,30}\b(?:mock|mocks|mocked|mocking|stub|stubs)\b"
        r"|\bmock(?:s|ed)?\b[^.;]{0,40}\b(?:removed|eliminated|replaced)\b|\bno\s+more\s+(?:fallback|mock|stub)",
        re.I,
    )
    _ADMIT = re.compile(
        r"\bmock(?:ed)?\s+(?:implementations?|classes|objects?|modules?|versions?|fallbacks?|dependenc(?:y|ies)"
        r"|backends?)\b|\b(?:dummy|fake|random)\s+(?:dummy\s+)?(?:data|inputs?|tensors?|batches)\b",
        re.I,
    )

    def mocks(self, b: Block, text: str, plan: bool) -> None:
        if self._NO_MOCKS.search(text):
            if not plan:
                self.add("mocks", b, "no mocks", False)
            return
        m = self._ADMIT.search(text)
        if m and not re.search(r"\b(?:no|without|instead\s+of|from\s+\w+\s+\w+\s+to)\b", text[: m.start()], re.I):
            self.out.mock_admissions.append((b.line, m.group(0)))

    # -- test results -----------------------------------------------------------------------
    _FRACTION = re.compile(
        r"(?P<was>\bwas\s+)?(?P<k>\d+)\s*/\s*(?P<n>\d+)\s+(?:(?P<subj>[A-Za-z][\w.-]*)\s+)?"
        r"(?:unit\s+|integration\s+)?tests?\b(?!\s+(?:files?|suites?|scripts?))(?P<rest>[^.;]{0,30})",
        re.I,
    )
    _COUNT = re.compile(
        r"(?P<all>\ball\s+)?(?P<n>\d[\d,]*)(?P<plus>\+)?\s+(?:(?P<subj>[A-Za-z][\w.-]*)\s+)?"
        r"(?:unit\s+|integration\s+|individual\s+)?tests?\b(?!\s+(?:files?|suites?|scripts?|cases?\s+files?))"
        r"(?P<rest>[^.;]{0,30})",
        re.I,
    )
    _PASS = re.compile(r"\b(?:pass(?:ing|ed|es)?|green|succeed(?:ing|ed)?)\b", re.I)
    _ALL_PASS = re.compile(r"\ball\s+(?:\w+\s+){0,2}tests?\s+(?:are\s+)?(?:pass(?:ing|ed)?|green)\b", re.I)
    _BARE_FRACTION = re.compile(r"(?P<was>\bwas\s+)?\(?(?P<k>\d+)\s*/\s*(?P<n>\d+)\s+(?:pass(?:ing|ed)?)\b", re.I)

    def _test_subject(self, b: Block, word: str | None) -> str:
        for ref in self._refs(b):
            if re.search(r"(?:^|/)(?:test_[^/]*|[^/]*_test)\.py$|(?:^|/)tests?/", ref):
                return ref
        if word and word.lower() not in {"the", "all", "of", "our", "new", "passing", "comprehensive", "more"}:
            return word
        return ""

    def tests(self, b: Block, text: str) -> None:
        seen: set[int] = set()

        def fraction(m: re.Match[str], word: str | None, passing: bool) -> None:
            """"k/n tests passing": a result that may be presented as all passing."""
            seen.update(range(m.start(), m.end()))
            k, n = int(m.group("k")), int(m.group("n"))
            self.add("tests", b, self._test_subject(b, word), n, k=k, n=n, passing=passing,
                     historical=bool(m.group("was")), at_least=False,
                     presented_all=bool(re.search(r"\ball\b|✅|\b100\s*%", text, re.I)))

        for m in self._FRACTION.finditer(text):
            passing = bool(self._PASS.search(m.group("rest") or "")) or bool(self._PASS.search(text))
            fraction(m, m.group("subj"), passing)
        for m in self._BARE_FRACTION.finditer(text):
            if m.start("k") in seen or not re.search(r"\btests?\b", text, re.I):
                continue
            fraction(m, None, True)
        for m in self._COUNT.finditer(text):
            if m.start("n") in seen:
                continue
            before = text[max(0, m.start("n") - 1): m.start("n")]
            if before == "/":
                continue
            n = int(number(m.group("n")))
            rest = (m.group("rest") or "") + text[m.end():m.end() + 20]
            passing = bool(self._PASS.search(rest))
            self.add("tests", b, self._test_subject(b, m.group("subj")), n, k=n if passing else None, n=n,
                     passing=passing, historical=False, at_least=bool(m.group("plus")), presented_all=False)
            seen.update(range(m.start(), m.end()))
        if not seen and self._ALL_PASS.search(text):
            self.add("tests", b, self._test_subject(b, None), None, k=None, n=None, passing=True,
                     historical=False, at_least=False, presented_all=True)

    # -- file references ---------------------------------------------------------------------
    def _refs(self, b: Block) -> list[str]:
        refs: list[str] = []
        for m in V.BACKTICK_RE.finditer(b.raw):
            tok = m.group(1).strip("'\"")
            if _looks_like_path(tok) and tok not in refs:
                refs.append(tok)
        stripped = V.BACKTICK_RE.sub(" ", b.raw)
        for m in V.BARE_PATH_RE.finditer(stripped):
            tok = m.group(1).rstrip(".,;:")
            if _looks_like_path(tok) and "://" not in stripped[max(0, m.start() - 8): m.start() + 1] \
                    and tok not in refs:
                refs.append(tok)
        return refs

    def files(self, b: Block) -> None:
        refs = self._refs(b)
        if not refs:
            return
        text = b.text
        bare = V.BACKTICK_RE.sub(" ", text)  # a file named missing_x.py is not "missing"
        absent = re.search(r"\bnot\s+yet\s+(?:created|acquired|written|generated|available|added)\b|\bmissing\b"
                           r"|\bto\s+be\s+created\b|\bdoes\s+not\s+exist\b", bare, re.I)
        created = any(re.search(r"\bfiles?\s+created\b|\bcreated\b|\bgenerated\b|\bnew\b", h, re.I)
                      for _, h in b.headings) or bool(re.search(r"\bcreated\b|✅", text))
        for i, ref in enumerate(refs):
            # A line count or size belongs to the reference just before it.
            seg_start = text.find(ref.split("/")[-1]) if ref.split("/")[-1] in text else 0
            nxt = refs[i + 1] if i + 1 < len(refs) else None
            seg_end = text.find(nxt.split("/")[-1], seg_start + 1) if nxt and nxt.split("/")[-1] in text else len(text)
            seg = text[seg_start: seg_end if seg_end > seg_start else len(text)]
            lm = V.LINES_RE.search(seg)
            sm = V.SIZE_RE.search(seg)
            size = None
            if sm:
                size = float(sm.group(1)) * {"b": 1, "kb": 1e3, "mb": 1e6, "gb": 1e9}[sm.group(2).lower()]
            self.add("file", b, ref, int(number(lm.group(1) or lm.group(2))) if lm else None,
                     lines=int(number(lm.group(1) or lm.group(2))) if lm else None,
                     size=size, size_text=sm.group(0) if sm else None,
                     absent=bool(absent), created=created and not absent,
                     implemented=bool(re.search(r"\bimplement(?:ed|s)?\b|\bcomplete\b|✅|\bcreated\b", text, re.I)))

    # -- parameter counts --------------------------------------------------------------------
    def params(self, b: Block, text: str) -> None:
        for m in V.PARAMS_RE.finditer(text):
            raw = m.group("num")
            mult = V.MULTIPLIERS.get((m.group("mult") or "").lower(), 1.0)
            value = number(raw) * mult
            # Precision: "8.1M" is 8.05M..8.15M; "8,066,409" is exact.
            tol = 0.5 * (10 ** -decimals(raw)) * mult if mult > 1 or m.group("approx") else 0.0
            if m.group("approx"):
                tol = max(tol, value * 0.05)
            subject = _subject_before(b, text, m.start())
            self.add("params", b, subject, int(round(value)), tol=tol, text=m.group(0).strip())

    # -- metrics -----------------------------------------------------------------------------
    def _quals(self, b: Block, text: str) -> frozenset[str]:
        words = set(re.findall(r"[a-z][a-z\-]*", " ".join((text, *b.parents)).lower()))
        contrast = set().union(*V.CONTRASTS)
        return frozenset(words & contrast)

    def metrics(self, b: Block, text: str) -> None:
        taken: list[tuple[int, int]] = []
        ids = tuple(sorted({i for _, _, i, _ in self._ids(b, text)}))
        quals = self._quals(b, text)
        row = b.cells[0] if b.kind == "row" and b.cells else ""

        def emit(m: re.Match[str], name: str, key: str) -> None:
            if any(s <= m.start("val") < e for s, e in taken):
                return
            if m.groupdict().get("cmp"):
                return
            after = text[m.end(): m.end() + 12]
            before = text[max(0, m.start() - 12): m.start()]
            if re.match(r"\s*(?:to|-|–|→)\s*\d", after) or re.search(r"\bfrom\s*$", before):
                return  # a trajectory ("from 77809 to 410") is not one value
            taken.append((m.start(), m.end()))
            val = float(m.group("val"))
            self.add("metric", b, key, val, name=name, pct=bool(m.groupdict().get("pct")),
                     decimals=decimals(m.group("val")), approx=bool(m.group("approx")), quals=quals, ids=ids,
                     row=row)

        for m in V.TRAJECTORY_RE.finditer(text):
            a, pa = (m.group("a"), m.group("pa")) if m.group("a") is not None else (m.group("a2"), m.group("pa2"))
            taken.append((m.start(), m.end()))
            self.add("trajectory", b, V.METRICS[m.group("name").lower()], (number(a), number(m.group("b"))),
                     name=m.group("name"), pct=bool(pa or m.group("pb")),
                     decimals=(decimals(a), decimals(m.group("b"))), quals=quals, ids=ids,
                     span=(int(number(m.group("n"))), m.group("unit").lower()) if m.group("n") else None)
        for rx in (V.METRIC_AFTER_RE, V.METRIC_BEFORE_RE):
            for m in rx.finditer(text):
                emit(m, m.group("name"), V.METRICS[m.group("name").lower()])
        for m in V.THROUGHPUT_RE.finditer(text):
            name = m.group("name").lower().replace("its/s", "it/s").replace("iter/s", "it/s")
            emit(m, name, name)

    # -- split sizes -------------------------------------------------------------------------
    _UNITS = r"studies|samples|examples|images|subjects|items|files|patients|sequences|records|rows|scans|volumes"
    _SPLIT_TRIPLE = re.compile(
        rf"(?P<a>{V.NUM})\s*/\s*(?P<b>{V.NUM})\s*/\s*(?P<c>{V.NUM})\s+(?P<unit>{_UNITS})\b", re.I
    )
    _SPLIT_ONE = re.compile(
        rf"\b(?P<role>train(?:ing)?|val(?:idation)?|test(?:ing)?)\b(?:\s+(?:data|set|split))?\s*[:(\-–]*\s*"
        rf"(?:\d+(?:\.\d+)?\s*%\s*[-–,:]?\s*)?(?P<n>{V.NUM})\s+(?P<unit>{_UNITS})\b",
        re.I,
    )

    def splits(self, b: Block, text: str) -> None:
        m = self._SPLIT_TRIPLE.search(text)
        if m and re.search(r"train", text, re.I):
            for role, g in (("train", "a"), ("val", "b"), ("test", "c")):
                self.add("split", b, role, int(number(m.group(g))), unit=m.group("unit").lower())
            return
        for m in self._SPLIT_ONE.finditer(text):
            role = {"t": "train", "v": "val"}.get(m.group("role")[0].lower(), "train")
            role = "test" if m.group("role").lower().startswith("test") else role
            self.add("split", b, role, int(number(m.group("n"))), unit=m.group("unit").lower())

    # -- training claims ---------------------------------------------------------------------
    _TRAINED = re.compile(
        r"\btraining\b[^.;]{0,60}\b(?:complete[d]?|finished|done|succeeded|successful)\b"
        r"|\b(?:completed|finished|successfully\s+(?:ran|completed|demonstrated))\b[^.;]{0,40}\btraining\b"
        r"|\bmodel\s+(?:was|has\s+been|is)\s+(?:fully\s+)?trained\b|\btrained\s+(?:model|checkpoint|weights)\s+"
        r"(?:saved|available|ready)\b",
        re.I,
    )

    def training(self, b: Block, text: str) -> None:
        if self._TRAINED.search(text) and not re.search(r"\bnot\b|\bwithout\b|\bno\b", text, re.I):
            self.add("training", b, "training completed", True)

    _IMPL = re.compile(r"\b(?:implemented|created|built|added|complete[d]?|working)\b|✅", re.I)

    def implemented(self, b: Block, text: str) -> None:
        names = [n for n in re.findall(r"`([A-Za-z_][A-Za-z0-9_]*)(?:\(\))?`", b.raw)
                 if re.match(r"[A-Z]\w*[a-z]", n) or "_" in n]
        if names and self._IMPL.search(text) and not re.search(r"\bnot\b|\bmissing\b", text, re.I):
            self.add("implemented", b, ", ".join(names), True, names=tuple(names))

    # -- durations beside a time range ---------------------------------------------------------
    _RANGE = re.compile(
        r"(?P<d1>\d{4}-\d{2}-\d{2})?[ T]?(?P<t1>\d{1,2}:\d{2})?\s*(?:-|–|—|to|→|until)\s*"
        r"(?P<d2>\d{4}-\d{2}-\d{2})?[ T]?(?P<t2>\d{1,2}:\d{2})?"
    )

    def durations(self, b: Block, text: str) -> None:
        import datetime as dt

        for m in self._RANGE.finditer(text):
            d1, t1, d2, t2 = m.group("d1", "t1", "d2", "t2")
            if not ((t1 and t2) or (d1 and d2)):
                continue
            try:
                day1 = dt.date.fromisoformat(d1) if d1 else dt.date(2000, 1, 1)
                day2 = dt.date.fromisoformat(d2) if d2 else day1
                h1, mi1 = map(int, (t1 or "0:00").split(":"))
                h2, mi2 = map(int, (t2 or "0:00").split(":"))
                start = dt.datetime.combine(day1, dt.time(h1, mi1))
                end = dt.datetime.combine(day2, dt.time(h2, mi2))
            except ValueError:
                continue
            if end < start and not d2:
                end += dt.timedelta(days=1)  # 23:00-01:00 crosses midnight
            span = (end - start).total_seconds() / 3600
            rest = text[: m.start()] + " " * (m.end() - m.start()) + text[m.end():]
            dm = next((x for x in V.DURATION_RE.finditer(rest) if not x.group("hi")), None)
            if dm is None or span <= 0:
                continue
            unit = V.DURATION_UNITS[dm.group("unit").lower()]
            stated = number(dm.group("lo")) * unit
            date_only = not (t1 or t2)
            self.add("duration", b, m.group(0).strip(), stated, span=span, approx=bool(dm.group("approx")),
                     unit_hours=unit, date_only=date_only, stated_text=dm.group(0).strip())
            break

    # -- totals --------------------------------------------------------------------------------
    _SUM = re.compile(
        rf"(?P<parts>(?:~?{V.NUM}(?:\s*[-–]\s*{V.NUM})?\s*[a-zA-Z]+[^+=\n]{{0,30}}?\s*\+\s*)+"
        rf"~?{V.NUM}(?:\s*[-–]\s*{V.NUM})?\s*[a-zA-Z]+[^+=\n]{{0,30}}?)\s*=\s*(?P<total>~?{V.NUM}(?:\s*[-–]\s*{V.NUM})?"
        r"\s*[a-zA-Z]+)"
    )

    def inline_sums(self, b: Block, text: str) -> None:
        for m in self._SUM.finditer(text):
            parts = [q for q in (_quantity(p) for p in m.group("parts").split("+")) if q]
            total = _quantity(m.group("total"))
            if total and len(parts) >= 2 and all(p[2] == total[2] for p in parts):
                lo = sum(p[0] for p in parts)
                hi = sum(p[1] for p in parts)
                self.add("total", b, m.group(0).strip(), total[:2], parts=[(b.line, p[0], p[1]) for p in parts],
                         lo=lo, hi=hi, unit=total[2], stated=m.group("total").strip(), form="sum")

    def list_totals(self) -> None:
        by_list: dict[int, list[Block]] = {}
        for b in self.s.blocks:
            if b.kind == "item" and b.first and b.list_key is not None:
                by_list.setdefault(b.list_key, []).append(b)
        for items in by_list.values():
            totals = [b for b in items if re.match(r"^\W*total\b", b.text, re.I)]
            if len(totals) != 1 or len(items) < 3:
                continue
            tb = totals[0]
            rest = re.sub(r"^\W*total\b[^:]*:?", "", tb.text, flags=re.I)
            total = _quantity(rest)
            qm = V.DURATION_RE.search(rest)
            if not total:
                continue
            parts = []
            for b in items:
                if b is tb:
                    continue
                q = _quantity(b.text.split(":", 1)[-1] if ":" in b.text else b.text, alternatives=True)
                if not q or q[2] != total[2]:
                    parts = []
                    break
                parts.append((b.line, q[0], q[1]))
            if len(parts) >= 2:
                self.add("total", tb, "total", total[:2], parts=parts, lo=sum(p[1] for p in parts),
                         hi=sum(p[2] for p in parts), unit=total[2], stated=qm.group(0).strip() if qm else rest.strip(),
                         form="list")

    def table_totals(self) -> None:
        by_table: dict[int, list[Block]] = {}
        for b in self.s.blocks:
            if b.kind == "row" and b.table_key is not None:
                by_table.setdefault(b.table_key, []).append(b)
        for rows in by_table.values():
            totals = [r for r in rows if r.cells and re.match(r"^\W*total\b", r.cells[0], re.I)]
            if len(totals) != 1:
                continue
            tr = totals[0]
            others = [r for r in rows if r is not tr and len(r.cells) == len(tr.cells)]
            for j in range(1, len(tr.cells)):
                tv = _cell_number(tr.cells[j])
                if tv is None:
                    continue
                vals = [(_cell_number(r.cells[j]), r.line) for r in others]
                if len(vals) < 2 or any(v is None for v, _ in vals):
                    continue
                lo = sum(v[0] for v, _ in vals)  # type: ignore[index]
                col = tr.header[j] if j < len(tr.header) else f"column {j + 1}"
                tol = 0.5 * 10 ** -tv[1] + sum(0.5 * 10 ** -v[1] for v, _ in vals)  # type: ignore[index]
                self.add("total", tr, f"total of {col}", (tv[0], tv[0]),
                         parts=[(ln, v[0], v[0]) for v, ln in vals], lo=lo, hi=lo, unit=col,  # type: ignore[index]
                         stated=tr.cells[j], form="table", tol=tol)

    def counted_lists(self) -> None:
        firsts: dict[int, int] = {}
        for b in self.s.blocks:
            if b.kind == "item" and b.first and b.list_key is not None:
                firsts[b.list_key] = firsts.get(b.list_key, 0) + 1
        word_alt = "|".join(V.NUMBER_WORDS)
        for b in self.s.blocks:
            if b.next_list is None or b.next_list not in firsts:
                continue
            found = list(re.finditer(rf"\b(?P<n>\d+|{word_alt})\s+(?:[\w-]+\s+){{0,2}}?(?P<noun>[a-z]+s)\b",
                                     b.text, re.I))
            if len(found) != 1:
                continue
            m = found[0]
            raw = m.group("n").lower()
            n = int(raw) if raw.isdigit() else V.NUMBER_WORDS[raw]
            self.add("total", b, f"{m.group(0)} listed", (n, n), parts=[], lo=firsts[b.next_list],
                     hi=firsts[b.next_list], unit=m.group("noun").lower(), stated=m.group(0), form="count")


def _state_class(m: re.Match[str]) -> str:
    """The state class of a STATE_RE match; "80% complete" is work still in progress."""
    return "active" if m.lastgroup in ("pct", "partial") else m.lastgroup


def _looks_like_path(tok: str) -> bool:
    if tok.startswith(("http", "-", "$")) or tok[0].isdigit() or "(" in tok or "=" in tok or tok.count("/") > 12:
        return False
    ext = tok.rsplit(".", 1)[-1].lower() if "." in tok.rsplit("/", 1)[-1] else ""
    if ext in V.FILE_EXTS:
        return True
    return "/" in tok and bool(re.fullmatch(r"[\w.\-/*\[\]]+", tok)) and not tok.startswith("/") and \
        any(c.isalpha() for c in tok) and not re.fullmatch(r"[\d./]+", tok) and \
        (tok.endswith("/") or len(tok.split("/")) >= 2 and not re.search(r"\b(?:and|or)\b", tok)) and \
        not re.fullmatch(r"[A-Za-z]+(?:/[A-Za-z]+)+", tok)


def _subject_before(b: Block, text: str, pos: int) -> str:
    """What a number in a line is about: the last code reference, bold label or CamelCase name before it."""
    raw_before = b.raw[: max(0, b.raw.find(text[pos: pos + 8]))] if text[pos: pos + 8] in b.raw else b.raw
    ticks = re.findall(r"`([^`]+)`", raw_before)
    if ticks:
        return ticks[-1]
    bold = re.findall(r"\*\*([^*]+)\*\*", raw_before)
    if bold:
        return bold[-1].strip(" :")
    camel = re.findall(r"\b[A-Z][a-z]+(?:[A-Z][a-z0-9]*)+\b", text[:pos])
    if camel:
        return camel[-1]
    return ""


def _quantity(s: str, alternatives: bool = False) -> tuple[float, float, str] | None:
    """(low, high, unit) of the first quantity in s; durations in hours; '(or 3 weeks)' widens the range."""
    found = list(V.DURATION_RE.finditer(s))
    if found:
        m = found[0]
        unit = V.DURATION_UNITS[m.group("unit").lower()]
        lo = number(m.group("lo")) * unit
        hi = number(m.group("hi")) * unit if m.group("hi") else lo
        if alternatives:
            for alt in found[1:]:
                if re.search(r"\bor\s*$", s[: alt.start()]):
                    a = number(alt.group("lo")) * V.DURATION_UNITS[alt.group("unit").lower()]
                    lo, hi = min(lo, a), max(hi, a)
        return lo, hi, "hours"
    m = re.search(rf"(?P<lo>{V.NUM})(?:\s*[-–]\s*(?P<hi>{V.NUM}))?\s+(?P<unit>[a-zA-Z]+)", s)
    if m:
        lo = number(m.group("lo"))
        hi = number(m.group("hi")) if m.group("hi") else lo
        return lo, hi, m.group("unit").lower().rstrip("s")
    return None


def _cell_number(cell: str) -> tuple[float, int] | None:
    m = re.fullmatch(rf"\s*[~$€£]?\s*(?P<v>-?{V.NUM})\s*(?:%|[a-zA-Z/]{{0,8}})?\s*", cell)
    if not m:
        return None
    return number(m.group("v")), decimals(m.group("v"))


def extract(path: str, structure: Structure) -> Extraction:
    return _Extractor(path, structure).run()
