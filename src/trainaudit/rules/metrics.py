"""Rules about evaluation: is anything but the loss measured, and are the numbers real."""

from __future__ import annotations

from trainaudit.evidence.index import ProjectIndex
from trainaudit.evidence.loop_facts import outermost_loop
from trainaudit.evidence.metrics_facts import (
    evaluates_or_measures,
    literal_metrics,
    metric_mentions,
    names_metric,
    noise_scores,
)
from trainaudit.evidence.program import Program
from trainaudit.evidence.run_path import Scope, program_of, program_roots, scope_id
from trainaudit.evidence.source import SourceFile
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


def _roots(index: ProjectIndex, sf: SourceFile, loops: list[TrainLoop]) -> list[Scope]:
    """The scopes the entry's program starts from, its module level last (it evaluates less often), tests left
    out as in the rule: the entry's program holds them whatever else it reaches."""
    module, *anchors = program_roots(index, sf, [lp.scope for lp in loops])
    return [s for s in (*anchors, module) if not s[0].is_test]


def _report_loops(program: Program, loops: list[TrainLoop], scopes: list[Scope]) -> list[TrainLoop]:
    """The entry's own training loops, else (a spec entry point that drives training elsewhere) those it runs."""
    if loops:
        return loops
    keys = {scope_id(s) for s in scopes}
    return [lp for lp in program.training.loops if scope_id((lp.file, lp.scope)) in keys]


def _backward_helper(lp: TrainLoop) -> bool:
    """A method that backpropagates and steps nothing, outside any loop: part of a training step that a loop
    elsewhere drives, such as a loss object's `accumulate_gradients()`, built by name where no call resolves."""
    return lp.kind == "step-fn" and not lp.steps and lp.scope is not None and lp.scope.cls is not None


@check("missing-metrics")
def _missing_metrics(ctx):
    program = ctx.source
    index, wanted = program.index, ctx.spec.metrics
    measured: dict[tuple[str, str], bool] = {}  # entries share code: each scope is judged once

    def measures(scope: Scope) -> bool:
        key = scope_id(scope)
        if key not in measured:
            measured[key] = evaluates_or_measures(index, scope)
        return measured[key]

    loops_in: dict[int, list[TrainLoop]] = {}
    for lp in program.training.loops:
        loops_in.setdefault(id(lp.file), []).append(lp)
    entries: list[tuple[SourceFile, list[TrainLoop], list[Scope]]] = []
    stepping = {id(lp.file) for lp in program.training.loops if lp.steps or lp.kind in ("fit", "step-method")}
    for sf in program.entry_files:
        loops = loops_in.get(id(sf), [])
        if loops and id(sf) not in stepping and stepping and all(_backward_helper(lp) for lp in loops):
            continue  # a loss method's backward (StyleGAN2's accumulate_gradients): the stepping loop is judged
        # The entry's program holds its roots: when one of them evaluates or measures, the reach (most of this
        # check's cost) cannot change the verdict. Spec metrics are looked for over the whole program.
        if not wanted and any(measures(s) for s in _roots(index, sf, loops)):
            continue
        scopes = [s for s in program_of(index, sf, [lp.scope for lp in loops]) if not s[0].is_test]
        entries.append((sf, _report_loops(program, loops, scopes), scopes))
    for sf, loops, scopes in entries:
        if any(measures(s) for s in scopes):
            continue
        path, line = _report_at(loops, sf)
        yield MISSING_METRICS.finding(
            f"training in {sf.path} has no validation or evaluation pass and measures nothing but the loss",
            path, line,
            evidence={"entry": sf.path, "searched": sorted({s[0].path for s in scopes}),
                      "functions_searched": len(scopes),
                      "looked_for": ["evaluate()/validate()/test() or validation_step", "torch.no_grad() pass",
                                     "loop over validation/test data", "eval_dataset/validation_data",
                                     "accuracy, F1, Dice, IoU, AUC, ... or a metrics library"]})
    if not wanted or not entries:
        return
    found = metric_mentions({scope_id(s): s for *_, scopes in entries for s in scopes}.values())
    path, line = _report_at(entries[0][1], entries[0][0])
    for metric in wanted:
        if any(names_metric(m.name, metric) for m in found):
            continue
        yield MISSING_METRICS.finding(
            f"the spec requires the metric '{metric}', but no code on the training path computes or logs it",
            path, line,
            evidence={"metric": metric, "entries": [e[0].path for e in entries],
                      "searched": sorted({s[0].path for e in entries for s in e[2]}),
                      "metrics_found": sorted({m.name for m in found})[:20]})


# -- hardcoded-metrics (TA302), static part -----------------------------------------------------------------
@check("hardcoded-metrics")
def _hardcoded_metrics(ctx):
    program = ctx.source
    for sf in program.production:
        for lm in literal_metrics(program.index, sf):
            what = "drawn at random" if lm.random else "a literal or a formula of loop counters"
            yield HARDCODED_METRICS.finding(
                f"metric '{lm.key}' = {lm.value} is {lm.how}, but it is {what}, not a measurement", lm.path, lm.line,
                evidence={"metric": lm.key, "value": lm.value, "how": lm.how})
    for ns in noise_scores(program):
        yield HARDCODED_METRICS.finding(
            f"the accuracy in {ns.scope} compares what the model makes of random inputs ({', '.join(ns.inputs)}) with "
            f"labels drawn at random ({', '.join(ns.labels)}): it measures the draws, not the model", ns.path, ns.line,
            evidence={"scope": ns.scope, "random_inputs": list(ns.inputs), "random_labels": list(ns.labels)})
