"""The claims model: claims found in status documents, the problems among them, and the result."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# Ordered for display; "unchecked" means no repository was given or nothing can weigh the claim.
STATUSES = ("verified", "contradicted", "inconsistent", "unsupported", "prediction", "unchecked")

INCONSISTENT = "claim-inconsistent"
CONTRADICTED = "claim-contradicted"
UNSUPPORTED = "claim-unsupported"


@dataclass
class Claim:
    """One statement of a document that can be held against the document or the repository."""

    # state | docstatus | tests | file | params | metric | trajectory | split | total | duration | mocks | training
    # | implemented | prediction
    kind: str
    path: str  # the document, as displayed
    line: int
    text: str  # the line, Markdown emphasis removed
    subject: str = ""  # item id, metric name, file reference, ...
    value: Any = None
    status: str = "unchecked"
    evidence: list[str] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)  # structured facts used by the checks

    def mark(self, status: str, note: str | None = None) -> None:
        """Worse news wins: contradicted > inconsistent > unsupported > verified > unchecked."""
        if RANK[status] < RANK[self.status]:
            self.status = status
        if note and note not in self.evidence:
            self.evidence.append(note)

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind, "path": self.path, "line": self.line, "text": self.text,
            "subject": self.subject, "value": _plain(self.value), "status": self.status,
            "evidence": list(self.evidence),
        }


# Worst first: which status a claim keeps when several checks mark it, and the order of the claims table.
RANK = {"contradicted": 0, "inconsistent": 1, "unsupported": 2, "prediction": 3, "verified": 4, "unchecked": 5}


@dataclass
class Issue:
    """A problem found among claims; the rules turn each into one finding."""

    rule: str  # claim-inconsistent | claim-contradicted | claim-unsupported
    path: str
    line: int
    message: str
    lines: list[int] = field(default_factory=list)
    evidence: dict[str, Any] = field(default_factory=dict)
    severity: str | None = None  # None: the rule's default

    def to_dict(self) -> dict[str, Any]:
        return {
            "rule": self.rule, "path": self.path, "line": self.line, "message": self.message,
            "lines": list(self.lines), "evidence": _plain(self.evidence), "severity": self.severity,
        }


@dataclass
class Document:
    """A document that was read (or could not be), and what was done to its text."""

    path: str
    lines: int = 0
    encoding: str = "utf-8"
    repaired: str | None = None  # what mojibake repair did, if anything
    skipped: str | None = None  # why the document was not analysed
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path, "lines": self.lines, "encoding": self.encoding, "repaired": self.repaired,
            "skipped": self.skipped, "notes": list(self.notes),
        }


@dataclass
class ClaimsResult:
    """Everything the claims checker found; JSON-serialisable through to_dict()."""

    documents: list[Document] = field(default_factory=list)
    claims: list[Claim] = field(default_factory=list)
    issues: list[Issue] = field(default_factory=list)
    repo: str | None = None
    tests_run: dict[str, Any] | None = None

    def counts(self) -> dict[str, int]:
        out = dict.fromkeys(STATUSES, 0)
        for c in self.claims:
            out[c.status] += 1
        return out

    def summary(self) -> str:
        counts = self.counts()
        parts = [f"{n} {s}" for s, n in counts.items() if n]
        n = len(self.claims)
        head = f"{n} claim{'s' if n != 1 else ''}"
        return f"{head}: {', '.join(parts)}" if parts else f"{head} found"

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": "trainaudit.claims/1",
            "repo": self.repo,
            "summary": self.summary(),
            "counts": self.counts(),
            "documents": [d.to_dict() for d in self.documents],
            "claims": [c.to_dict() for c in self.claims],
            "issues": [i.to_dict() for i in self.issues],
            "tests_run": _plain(self.tests_run),
        }


def _plain(value: Any) -> Any:
    """Tuples and sets become lists so json.dumps accepts the result."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_plain(v) for v in value]
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)
