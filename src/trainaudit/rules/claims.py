"""Rules about what status documents claim: self-contradictions, contradictions by the repo, unsupported results."""

from __future__ import annotations

from collections.abc import Iterator

from trainaudit.finding import Finding, Severity
from trainaudit.rules.registry import Rule, check, register

CLAIM_INCONSISTENT = register(
    Rule("TA801", "claim-inconsistent", "claims", Severity.ERROR,
         "A status document contradicts itself: states, values, totals or durations that cannot all be true.",
         remedy="Correct the status documents so each item has one state and each quantity one value.")
)
CLAIM_CONTRADICTED = register(
    Rule("TA802", "claim-contradicted", "claims", Severity.ERROR,
         "A status document claims what the repository contradicts: files, line counts, tests, stubs, mocks.",
         remedy="Retract or correct the claims the repository contradicts before reporting progress.")
)
CLAIM_UNSUPPORTED = register(
    Rule("TA803", "claim-unsupported", "claims", Severity.WARNING,
         "A status document reports a result no evidence in the repository supports; predictions are listed.",
         remedy="Attach evidence (logs, checkpoints, test output) for every reported result, or mark it as expected.")
)


def _findings(ctx, rule: Rule) -> Iterator[Finding]:
    result = ctx.get("claims")
    for issue in result.issues:
        if issue.rule != rule.slug:
            continue
        yield rule.finding(
            issue.message, issue.path, issue.line,
            evidence={"lines": issue.lines, **issue.evidence},
            severity=Severity(issue.severity) if issue.severity else None,
            source="claims",
        )


@check("claim-inconsistent")
def inconsistent(ctx) -> Iterator[Finding]:
    yield from _findings(ctx, CLAIM_INCONSISTENT)


@check("claim-contradicted")
def contradicted(ctx) -> Iterator[Finding]:
    yield from _findings(ctx, CLAIM_CONTRADICTED)


@check("claim-unsupported")
def unsupported(ctx) -> Iterator[Finding]:
    yield from _findings(ctx, CLAIM_UNSUPPORTED)
