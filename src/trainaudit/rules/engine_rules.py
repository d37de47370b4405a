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


def _is_project_name(name: str, index) -> bool:
    """A bare class name, or a dotted path into one of the project's packages (not `transformers.X`)."""
    top = name.replace(":", ".").split(".")[0]
    return "." not in name.replace(":", ".") or any(m == top or m.startswith(top + ".") for m in index.by_module)


def unresolved_spec(ctx) -> list[tuple[str, str]]:
    """(spec key, value) pairs the project does not contain; shared with the verdict's gap list."""
    spec = ctx.spec
    program = ctx.source
    index = program.index
    out: list[tuple[str, str]] = []
    if spec.model and not index.class_named(spec.model) and _is_project_name(spec.model, index):
        out.append(("model", spec.model))
    if spec.data and not index.class_named(spec.data) and _is_project_name(spec.data, index) and not any(
            f.name == spec.data_name for f in index.functions.values()):
        out.append(("data", spec.data))
    if spec.entrypoints and not program.entry_files:
        out += [("entrypoints", g) for g in spec.entrypoints]
    out += [("logs", g) for g in ctx.get("logs").unmatched_globs]
    out += [("checkpoints", g) for g in ctx.get("checkpoints").unmatched_globs]
    return out


@check("spec-unresolved")
def _spec_unresolved(ctx):
    where = ctx.spec.origin or "spec"
    for key, value in unresolved_spec(ctx):
        is_glob = key in ("logs", "checkpoints", "entrypoints")
        found = "no file matches it" if is_glob else "the project defines no such name"
        yield SPEC_UNRESOLVED.finding(
            f"{where}: {key} = '{value}', but {found}", ".", None,
            evidence={"key": key, "value": value}, source="engine",
        )
