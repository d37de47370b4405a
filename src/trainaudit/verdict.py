"""Findings to verdict (valid / invalid / inconclusive) and the exit codes of `audit`."""

from __future__ import annotations

import enum
from collections.abc import Sequence

from trainaudit.finding import Finding, Severity


class Verdict(str, enum.Enum):
    VALID = "valid"
    INVALID = "invalid"
    INCONCLUSIVE = "inconclusive"


class ExitCode(enum.IntEnum):
    VALID = 0
    INVALID = 1
    ERROR = 2  # usage or internal error
    INCONCLUSIVE = 3


def decide(findings: Sequence[Finding], gaps: Sequence[str]) -> tuple[Verdict, list[str]]:
    """Any error finding makes the run invalid; missing evidence (gaps) makes it inconclusive."""
    errors = [f for f in findings if f.severity is Severity.ERROR]
    if errors:
        slugs = sorted({f.rule for f in errors})
        return Verdict.INVALID, [f"{len(errors)} error finding(s): {', '.join(slugs)}"]
    if gaps:
        return Verdict.INCONCLUSIVE, list(gaps)
    return Verdict.VALID, ["training code found and no error finding"]


def exit_code(verdict: Verdict) -> ExitCode:
    return {
        Verdict.VALID: ExitCode.VALID,
        Verdict.INVALID: ExitCode.INVALID,
        Verdict.INCONCLUSIVE: ExitCode.INCONCLUSIVE,
    }[verdict]
