"""Rules about evaluation: is anything but the loss measured, and are the numbers real."""

from __future__ import annotations

from trainaudit.evidence.loop_facts import outermost_loop
from trainaudit.evidence.metrics_facts import evaluation_passes, literal_metrics, metric_mentions, names_metric
from trainaudit.evidence.run_path import program_of, scope_id
from trainaudit.evidence.training import TrainLoop
from trainaudit.finding import Severity
from trainaudit.rules.registry import Rule, check, register

MISSING_METRICS = register(
    Rule("TA301", "missing-metrics", "metrics", Severity.ERROR,
         "No validation pass and nothing but the loss measured, or a required metric never computed or logged.",
         remedy="Add a validation loop and compute and log the required metrics{metrics}.")
)
HARDCODED_METRICS = register(
    Rule("TA302", "hardcoded-metrics", "metrics", Severity.ERROR,
         "Metric values are literals or formulas of loop counters, not measurements.",
         remedy="Compute metrics from model predictions on held-out data; never write literal metric values.")
)


# -- missing-metrics (TA301), static part ---------------------------------------------------------------
# Judged per training entry file over the code that runs with its training loops (callers included, so an
# evaluate() in the script that drives a trainer class counts). Logs-based checks join this rule elsewhere.

def _report_at(loops: list[TrainLoop], sf) -> tuple[str, int | None]:
    """Where a finding points: the outermost loop around the first hand-written training loop (the epoch
    loop, where validation belongs), else the first step function or fit call, else the entry file."""
    ranked = sorted(loops, key=lambda lp: (lp.kind != "loop", lp.line))
    if not ranked:
        return sf.path, None
    lp = ranked[0]
    outer = outermost_loop(lp.file, lp.scope, lp.node) if lp.kind == "loop" else None
    return lp.file.path, (outer.lineno if outer is not None else lp.line)  # type: ignore[attr-defined]


def _entry_facts(program, sf) -> tuple[tuple[str, int | None], list, list, list]:
    training = program.training
    loops = [lp for lp in training.loops if lp.file is sf]
    scopes = [s for s in program_of(program.index, sf, [lp.scope for lp in loops]) if not s[0].is_test]
    if not loops:  # a spec entry point that drives training elsewhere
        keys = {scope_id(s) for s in scopes}
        loops = [lp for lp in training.loops if scope_id((lp.file, lp.scope)) in keys]
    return _report_at(loops, sf), scopes, evaluation_passes(scopes), metric_mentions(scopes)


@check("missing-metrics")
def _missing_metrics(ctx):
    program = ctx.source
    facts = [(sf, *_entry_facts(program, sf)) for sf in program.entry_files]
    for sf, (path, line), scopes, passes, mentions in facts:
        if passes or mentions:
            continue
        yield MISSING_METRICS.finding(
            f"training in {sf.path} has no validation or evaluation pass and measures nothing but the loss",
            path, line,
            evidence={"entry": sf.path, "searched": sorted({s[0].path for s in scopes}),
                      "functions_searched": len(scopes),
                      "looked_for": ["evaluate()/validate()/test() or validation_step", "torch.no_grad() pass",
                                     "loop over validation/test data", "eval_dataset/validation_data",
                                     "accuracy, F1, Dice, IoU, AUC, ... or a metrics library"]})
    wanted = ctx.spec.metrics
    if not wanted or not facts:
        return
    found = [m for *_, mentions in facts for m in mentions]
    path, line = facts[0][1]
    for metric in wanted:
        if any(names_metric(m.name, metric) for m in found):
            continue
        yield MISSING_METRICS.finding(
            f"the spec requires the metric '{metric}', but no code on the training path computes or logs it",
            path, line,
            evidence={"metric": metric, "entries": [f[0].path for f in facts],
                      "searched": sorted({s[0].path for f in facts for s in f[2]}),
                      "metrics_found": sorted({m.name for m in found})[:20]})


# -- hardcoded-metrics (TA302), static part -----------------------------------------------------------------
@check("hardcoded-metrics")
def _hardcoded_metrics(ctx):
    program = ctx.source
    for sf in program.production:
        for lm in literal_metrics(program.index, sf):
            yield HARDCODED_METRICS.finding(
                f"metric '{lm.key}' = {lm.value} is {lm.how}, but it is a literal or a formula of loop "
                "counters, not a measurement", lm.path, lm.line,
                evidence={"metric": lm.key, "value": lm.value, "how": lm.how})
