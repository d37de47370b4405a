"""The rule registry: each rule's stable code, slug, family, default severity and one-line doc."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from trainaudit.finding import Finding, Location, Severity

if TYPE_CHECKING:
    from trainaudit.context import AuditContext

CheckFn = Callable[["AuditContext"], Iterable[Finding]]


@dataclass(frozen=True)
class Rule:
    """Metadata of one idea. Several checks (static, logs, trace) may report under one rule."""

    code: str
    slug: str
    family: str
    severity: Severity
    summary: str
    remedy: str = ""  # the next step a report asks for when this rule fires
    checks: list[CheckFn] = field(default_factory=list, compare=False, hash=False)

    def finding(
        self,
        message: str,
        path: str,
        line: int | None = None,
        *,
        evidence: dict[str, Any] | None = None,
        severity: Severity | None = None,
        source: str = "static",
        snippet: str = "",
        cell: int | None = None,
        cell_line: int | None = None,
    ) -> Finding:
        return Finding(
            rule=self.slug,
            code=self.code,
            severity=severity or self.severity,
            message=message,
            location=Location(path, line, cell, cell_line),
            evidence=dict(evidence or {}),
            source=source,
            snippet=snippet,
        )


_RULES: dict[str, Rule] = {}
_CODES: dict[str, str] = {}


def register(rule: Rule) -> Rule:
    """Declare a rule once; a second declaration of a slug or code is a programming error."""
    if rule.slug in _RULES or rule.code in _CODES:
        raise ValueError(f"rule {rule.code} {rule.slug} declared twice")
    _RULES[rule.slug] = rule
    _CODES[rule.code] = rule.slug
    return rule


def check(slug: str) -> Callable[[CheckFn], CheckFn]:
    """Attach a check function to a declared rule."""

    def deco(fn: CheckFn) -> CheckFn:
        _RULES[slug].checks.append(fn)
        return fn

    return deco


def all_rules() -> list[Rule]:
    from trainaudit import rules as _  # noqa: F401  (importing the package registers every rule)

    return sorted(_RULES.values(), key=lambda r: r.code)


def get_rule(name: str) -> Rule | None:
    """Look a rule up by slug or code."""
    all_rules()
    slug = _CODES.get(name.upper(), name)
    return _RULES.get(slug)
