"""Findings: immutable records of what a rule saw, where, and on what evidence."""

from __future__ import annotations

import enum
import hashlib
from dataclasses import dataclass, field
from typing import Any


class Severity(str, enum.Enum):
    """How much a finding weighs in the verdict; errors make a run invalid."""

    ERROR = "error"
    WARNING = "warning"
    INFO = "info"

    @property
    def rank(self) -> int:
        return {"error": 0, "warning": 1, "info": 2}[self.value]


@dataclass(frozen=True)
class Location:
    """A place in the audited project: a path relative to its root, 1-based line, optional notebook cell."""

    path: str
    line: int | None = None
    cell: int | None = None  # notebook code-cell index (0-based in file order), when from a notebook
    cell_line: int | None = None  # line within that cell

    def __str__(self) -> str:
        if self.cell is not None:
            return f"{self.path}:cell {self.cell + 1}:{self.cell_line}"
        return f"{self.path}:{self.line}" if self.line is not None else self.path


@dataclass(frozen=True)
class Finding:
    """One observation by one rule. Evidence holds the structured facts behind the message."""

    rule: str  # the slug, e.g. "synthetic-data"
    code: str  # the stable code, e.g. "TA102"
    severity: Severity
    message: str
    location: Location
    evidence: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)
    source: str = "static"  # static | logs | checkpoint | trace | claims | engine
    snippet: str = ""  # the normalised source line, for fingerprints and display

    @property
    def path(self) -> str:
        return self.location.path

    @property
    def line(self) -> int | None:
        return self.location.line

    def fingerprint(self) -> str:
        """Stable across line shifts but not across content changes: rule, path, normalised line."""
        text = " ".join(self.snippet.split()) or self.message
        raw = "\x1f".join((self.rule, self.location.path, text))
        return hashlib.sha256(raw.encode("utf-8")).hexdigest()[:16]

    def sort_key(self) -> tuple:
        return (self.severity.rank, self.location.path, self.location.line or 0, self.rule)
