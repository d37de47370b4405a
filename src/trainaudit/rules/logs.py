"""Rules over training logs: empty logs, NaN/Inf points, a loss that never falls, missing or formulaic metrics."""

from __future__ import annotations

import ast
import posixpath
from collections.abc import Iterator
from typing import TYPE_CHECKING

from trainaudit.evidence.logs import names, stats
from trainaudit.finding import Finding, Severity
from trainaudit.rules.engine_rules import PARSE_ERROR
from trainaudit.rules.metrics import HARDCODED_METRICS, MISSING_METRICS
from trainaudit.rules.registry import Rule, check, register

if TYPE_CHECKING:
    from trainaudit.context import AuditContext
    from trainaudit.evidence.logs import LogEvidence, LogFile, Series

EMPTY_LOGS = register(
    Rule("TA501", "empty-logs", "logs", Severity.ERROR,
         "Training logs hold no scalar points (or none for a required metric), or logging code left no logs.")
)
NAN_VALUES = register(
    Rule("TA502", "nan-values", "logs", Severity.ERROR,
         "Logged values (or weights) contain NaN or infinity: the run diverged or was never numerically valid.")
)
LOSS_NOT_DECREASING = register(
    Rule("TA503", "loss-not-decreasing", "logs", Severity.ERROR,
         "The training loss shows no downward trend (flat or rising): the model did not learn.")
)

_SUMMARY_FORMATS = frozenset({"wandb-summary"})  # final values, not histories
_MAX_LISTED = 8


def _logs(ctx: AuditContext) -> LogEvidence:
    return ctx.get("logs")


def _fmt(v: float) -> str:
    return f"{v:.6g}"


def _tags(series: list[Series]) -> list[str]:
    return sorted({s.name for s in series})


def _listing(items: list[str]) -> str:
    head = ", ".join(items[:_MAX_LISTED])
    return head + (f" and {len(items) - _MAX_LISTED} more" if len(items) > _MAX_LISTED else "")


def _where(files: list[LogFile]) -> str:
    """One location for a finding about a set of log files: the file, else their common folder."""
    paths = sorted({f.path for f in files})
    if len(paths) == 1:
        return paths[0]
    common = posixpath.commonpath(paths) if paths else ""
    return common or "."


def _spec_metric(ctx: AuditContext, tag: str) -> str | None:
    return next((m for m in ctx.spec.metrics if names.matches_metric(tag, m)), None)


def _measures_quality(ctx: AuditContext, tag: str) -> bool:
    """A loss or metric by name, or a metric the spec requires."""
    return names.is_quality(tag) or _spec_metric(ctx, tag) is not None


def _history_series(ctx: AuditContext) -> Iterator[tuple[LogFile, Series]]:
    """Every series that is a history over steps (final-value summaries left out)."""
    for f in _logs(ctx).files:
        if f.format not in _SUMMARY_FORMATS:
            for s in f.series:
                yield f, s


# --- empty-logs ----------------------------------------------------------------------------------------
@check("empty-logs")
def _empty_files(ctx: AuditContext) -> Iterator[Finding]:
    logs = _logs(ctx)
    for f in logs.files:
        if f.points == 0:
            damaged = [p for p in f.problems if p.kind != "truncated"]
            why = f"; {len(f.problems)} problem(s): {f.problems[0].message}" if f.problems else ""
            declared = f" (declared tags: {_listing(_tags(f.series))})" if f.series else ""
            yield EMPTY_LOGS.finding(
                f"{f.path} ({f.format}) holds no scalar points: {f.records} record(s) read{declared}{why}",
                f.path, evidence={"format": f.format, "records": f.records, "points": 0,
                                  "declared_tags": _tags(f.series), "damaged": len(damaged)},
                source="logs",
            )
            continue
        for s in f.series:
            wanted = _spec_metric(ctx, s.tag)
            if wanted and len(s) == 0:
                yield EMPTY_LOGS.finding(
                    f"{f.path}: required metric '{wanted}' is declared as '{s.name}' but has no points",
                    f.path, evidence={"format": f.format, "tag": s.name, "metric": wanted, "points": 0},
                    source="logs",
                )


# Calls that write training logs, by resolved dotted name (suffix) or by method name on any object.
_WRITER_SUFFIXES = (
    "tensorboard.SummaryWriter", "tensorboardX.SummaryWriter", "summary.create_file_writer",
    "mlflow.log_metric", "mlflow.log_metrics", "wandb.log", "loggers.CSVLogger", "loggers.TensorBoardLogger",
    "loggers.WandbLogger", "loggers.MLFlowLogger",
)
_WRITER_METHODS = frozenset({"add_scalar", "add_scalars", "log_metric", "log_metrics"})
_SELF_METHODS = frozenset({"self.log", "self.log_dict"})


# The last parts of the names above: a resolved name's last part is always spelled in the file (in the call or
# its import), so a file without any of these words cannot log.
_WRITER_WORDS = frozenset({n.rsplit(".", 1)[-1] for n in (*_WRITER_SUFFIXES, *_SELF_METHODS)} | _WRITER_METHODS)


def _log_writing_calls(ctx: AuditContext) -> list[tuple[str, int, str]]:
    found: list[tuple[str, int, str]] = []
    for sf in ctx.source.production_spelling(_WRITER_WORDS):
        for node in sf.nodes_of(ast.Call):
            assert isinstance(node, ast.Call)
            name = sf.resolve(node.func) or ""
            method = node.func.attr if isinstance(node.func, ast.Attribute) else ""
            if name.endswith(_WRITER_SUFFIXES) or name in _SELF_METHODS or method in _WRITER_METHODS:
                found.append((sf.path, node.lineno, name or method))
    return sorted(found)


@check("empty-logs")
def _logging_code_without_logs(ctx: AuditContext) -> Iterator[Finding]:
    logs = _logs(ctx)
    if logs.files:
        return
    calls = _log_writing_calls(ctx)
    if not calls:
        return
    path, line, name = calls[0]
    where = f" matching the spec's logs globs {list(ctx.spec.logs)}" if logs.from_spec else ""
    sf = ctx.source.by_path.get(path)
    yield EMPTY_LOGS.finding(
        f"the code writes training logs ({name} at {path}:{line}, {len(calls)} call(s) in all) "
        f"but no log files were found{where}",
        path, line, severity=Severity.WARNING, source="logs", snippet=sf.line_text(line) if sf else "",
        evidence={"calls": [f"{p}:{n} {c}" for p, n, c in calls[:20]], "unmatched_globs": logs.unmatched_globs},
    )


# --- damaged log files, reported like other unreadable input ------------------------------------------
@check("parse-error")
def _damaged_logs(ctx: AuditContext) -> Iterator[Finding]:
    for f in _logs(ctx).files:
        if not f.problems:
            continue
        first = f.problems[0]
        unit = "byte" if f.format in ("tfevents", "wandb") else "line"
        at = f" at {unit} {first.offset}" if first.offset is not None else ""
        only_truncated = all(p.kind == "truncated" for p in f.problems)
        yield PARSE_ERROR.finding(
            f"{f.path}: {len(f.problems)} problem(s) reading this {f.format} log, first{at}: {first.message}; "
            f"{f.points} point(s) still read",
            f.path, severity=Severity.INFO if only_truncated else Severity.WARNING, source="logs",
            evidence={"format": f.format, "points": f.points,
                      "problems": [{"kind": p.kind, "message": p.message, "offset": p.offset} for p in f.problems]},
        )


# --- nan-values ----------------------------------------------------------------------------------------
@check("nan-values")
def _nan_points(ctx: AuditContext) -> Iterator[Finding]:
    for f in _logs(ctx).files:
        for s in f.series:
            first = s.first_non_finite()
            if first is None:
                continue
            index, step, value = first
            bad = s.non_finite_count()
            important = _measures_quality(ctx, s.tag)
            yield NAN_VALUES.finding(
                f"{f.path}: '{s.name}' has {bad} NaN/Inf point(s) of {len(s)}, first {value} at step {step}",
                f.path, severity=None if important else Severity.WARNING, source="logs",
                evidence={"tag": s.name, "first_step": step, "first_index": index, "first_value": str(value),
                          "non_finite": bad, "points": len(s)},
            )


# --- loss-not-decreasing -------------------------------------------------------------------------------
_SHORT = 10  # below this many points the trend test has little power: report as a warning only


@check("loss-not-decreasing")
def _loss_trend(ctx: AuditContext) -> Iterator[Finding]:
    for f, s in _history_series(ctx):
        if not names.is_train_loss(s.tag):
            continue
        t = stats.trend(s.values)
        if t.direction in ("decreasing", "too-short"):
            continue
        how = (f"rises from {_fmt(t.start)} to {_fmt(t.end)}" if t.direction == "increasing"
               else f"stays flat ({_fmt(t.start)} at the start, {_fmt(t.end)} at the end)")
        yield LOSS_NOT_DECREASING.finding(
            f"{f.path}: training loss '{s.name}' {how} over {t.points} points "
            f"(Mann-Kendall z={t.z:.2f}, relative drop {t.relative_drop:.1%})",
            f.path, severity=Severity.WARNING if t.points < _SHORT else None, source="logs",
            evidence={"tag": s.name, "direction": t.direction, "points": t.points, "start": t.start,
                      "end": t.end, "mann_kendall_z": t.z, "theil_sen_slope_per_block": t.slope,
                      "noise": t.noise, "relative_drop": t.relative_drop,
                      "first_step": s.steps[0], "last_step": s.steps[-1]},
        )


# --- missing-metrics (from logs) ------------------------------------------------------------------------
def _is_train_only(tag: str) -> bool:
    return any(t in names.TRAIN_WORDS for t in names.tokens(tag)) and not names.is_validation(tag)


@check("missing-metrics")
def _missing_metrics_in_logs(ctx: AuditContext) -> Iterator[Finding]:
    logs = _logs(ctx)
    files = [f for f in logs.files if f.points]
    if not files:
        return  # no usable logs: empty-logs and the static checks speak to that
    where = _where(files)
    logged = [s for f in files for s in f.series if len(s)]
    tags = _tags(logged)
    paths = sorted(f.path for f in files)
    for wanted in ctx.spec.metrics:
        if not any(names.matches_metric(s.tag, wanted) for f in logs.files for s in f.series):
            yield MISSING_METRICS.finding(
                f"required metric '{wanted}' is in none of the {len(files)} log file(s) under {where} "
                f"(logged: {_listing(tags)})",
                where, source="logs", evidence={"metric": wanted, "logged_tags": tags, "log_files": paths},
            )
    quality = [s for s in logged if _measures_quality(ctx, s.tag)]
    if not quality:
        yield MISSING_METRICS.finding(
            f"the logs under {where} record no loss and no metric, only: {_listing(tags)}",
            where, source="logs", evidence={"logged_tags": tags, "log_files": paths},
        )
        return
    if all(names.is_train_loss(s.tag) for s in quality):
        yield MISSING_METRICS.finding(
            f"the logs under {where} record only the training loss ({_listing(_tags(quality))}): "
            "no validation pass and no metric",
            where, source="logs", evidence={"logged_tags": tags, "log_files": paths},
        )
        return
    if all(names.is_train_loss(s.tag) or _is_train_only(s.tag) for s in quality):
        yield MISSING_METRICS.finding(
            f"the logs under {where} record metrics on training data only ({_listing(_tags(quality))}): "
            "no validation series",
            where, severity=Severity.WARNING, source="logs",
            evidence={"logged_tags": tags, "log_files": paths},
        )


# --- hardcoded-metrics (from logs) ----------------------------------------------------------------------
@check("hardcoded-metrics")
def _formulaic_series(ctx: AuditContext) -> Iterator[Finding]:
    for f, s in _history_series(ctx):
        if not _measures_quality(ctx, s.tag) or names.is_bookkeeping(s.tag):
            continue
        formula = stats.exact_formula(s.steps, s.values)
        if formula is None:
            continue
        if formula.kind == "constant":
            message = (f"{f.path}: '{s.name}' is exactly {_fmt(formula.a)} at all {len(s)} points "
                       f"(steps {s.steps[0]}..{s.steps[-1]}): hardcoded, or the model never changes")
            severity = Severity.WARNING
        else:
            message = (f"{f.path}: '{s.name}' follows {formula.describe()} exactly at all {len(s)} points "
                       f"(max residual {formula.max_residual:.2g}); a measured value would fluctuate")
            severity = None
        yield HARDCODED_METRICS.finding(
            message, f.path, severity=severity, source="logs",
            evidence={"tag": s.name, "formula": formula.kind, "a": formula.a, "b": formula.b,
                      "max_residual": formula.max_residual, "points": len(s),
                      "values_head": s.values[:5], "steps_head": s.steps[:5]},
        )
