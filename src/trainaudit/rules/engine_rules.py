"""Rules the engine itself reports under: unreadable input, crashed rules, unusable spec entries."""

from __future__ import annotations

from trainaudit.finding import Severity
from trainaudit.rules.registry import Rule, check, register

PARSE_ERROR = register(
    Rule("TA001", "parse-error", "engine", Severity.WARNING,
         "A source file or notebook could not be read or parsed; the rest of the project is still audited.",
         remedy="Fix or remove the files that could not be read so the whole project can be audited.")
)
RULE_CRASH = register(
    Rule("TA002", "rule-crash", "engine", Severity.WARNING,
         "A rule failed on this project; its part of the audit is missing (the other rules still ran).",
         remedy="Report the crashed rule to the trainaudit maintainers; re-run once fixed.")
)
SPEC_UNRESOLVED = register(
    Rule("TA003", "spec-unresolved", "engine", Severity.WARNING,
         "Something the spec names (model, data, entrypoints, logs, checkpoints, claims) is not in the project.",
         remedy="Correct the spec so it names what the project really contains.")
)


@check("parse-error")
def _parse_errors(ctx):
    for sf in ctx.source.failed:
        cell, cell_line = sf.cell_of(sf.error_line)
        yield PARSE_ERROR.finding(
            f"{sf.path} was not analysed: {sf.error}", sf.path, sf.error_line,
            evidence={"error": sf.error}, cell=cell, cell_line=cell_line, source="engine",
        )
    for path, why in ctx.files.skipped:
        yield PARSE_ERROR.finding(f"{path} was skipped: {why}", path, None, evidence={"error": why},
                                  source="engine", severity=Severity.INFO)
