"""Rules fed by the run trace (`trainaudit run`): what a few real training steps showed."""

from __future__ import annotations

import dataclasses
import functools
import math
import re
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from trainaudit.evidence.metrics_facts import names_metric
from trainaudit.finding import Finding, Severity
from trainaudit.rules.checkpoints import CHECKPOINT_MISMATCH, UNTRAINED_CHECKPOINT
from trainaudit.rules.integration import DISCARDED_OUTPUT, DUMMY_INPUT, ISOLATED_TRAINING
from trainaudit.rules.logs import NAN_VALUES
from trainaudit.rules.loop import PLACEHOLDER_LOOP
from trainaudit.rules.metrics import MISSING_METRICS
from trainaudit.rules.model import PLACEHOLDER_MODEL, SYNTHETIC_DATA
from trainaudit.rules.registry import Rule, register
from trainaudit.rules.registry import check as _check
from trainaudit.tracer.trace import ModuleRecord, SaveCall, Trace

if TYPE_CHECKING:
    from trainaudit.evidence.trace import TraceTree

NO_GRADIENT = register(
    Rule("TA701", "no-gradient", "runtime", Severity.ERROR,
         "Parameters of a trained component never received a gradient during the traced run.",
         remedy="Connect the component to the loss (no .detach(), no unused branch) or freeze it explicitly.")
)
RUN_FAILED = register(
    Rule("TA702", "run-failed", "runtime", Severity.ERROR,
         "The traced training run crashed, exited non-zero, hung before its first step, or left no usable trace.",
         remedy="Make the training entry point run: fix the error shown, then re-run `trainaudit run`.")
)
CANNOT_OVERFIT = register(
    Rule("TA703", "cannot-overfit", "runtime", Severity.WARNING,
         "Smoke mode: the loss did not fall on one repeated batch, or the first loss is implausible for the output.",
         remedy="Check the loss, the output layer and the learning rate until the model can overfit one batch.")
)

STALE_TRACE = register(
    Rule("TA704", "stale-trace", "runtime", Severity.WARNING,
         "Project files the traced run imported have changed or gone since: the trace describes older code.",
         remedy="Re-run `trainaudit run` on the current code (or delete the old .trainaudit/trace.json).")
)

TRACE = "trace"
MIN_LINK_OVERLAP = 0.5  # a checkpoint shares at least this share of keys with a traced module to be compared
STALE_NOTE = " [from a stale trace: the code it ran has changed since; re-run `trainaudit run`]"


def check(slug: str) -> Callable:
    """`registry.check` for trace checks: findings from a trace older than the code say so in their message."""

    def deco(fn: Callable[..., Iterator[Finding]]) -> Callable[..., Iterator[Finding]]:
        @functools.wraps(fn)
        def run(ctx) -> Iterator[Finding]:
            ev = ctx.get("trace")
            for f in fn(ctx):
                if ev.stale and f.rule != STALE_TRACE.slug:
                    f = dataclasses.replace(f, message=f.message + STALE_NOTE,
                                            evidence={**f.evidence, "stale_trace": True})
                yield f

        return _check(slug)(run)

    return deco


def _trace(ctx) -> Trace | None:
    return ctx.get("trace").trace


def _tree(ctx) -> TraceTree:
    """Module ancestry and parameter ownership, shared by every check of this audit (the trace must exist)."""
    return ctx.get("trace").tree


def _loc(rec: ModuleRecord | None) -> tuple[str, int | None]:
    """The class statement of a project module; for a library module, the project line that built it."""
    if rec is None:
        return ".", None
    for w in (rec.defined_at if rec.project else None, rec.created_at):
        if w is not None and w.in_project:
            return w.path, w.line
    return ".", None


def _short(rec: ModuleRecord) -> str:
    return rec.cls.rsplit(".", 1)[-1]


def _entry(trace: Trace) -> str:
    """The traced script (relative), for findings about the run as a whole."""
    if trace.mode == "script":
        cmd = trace.command
        return next((a for a in cmd if a.endswith(".py")), ".")
    return "."


def _got_grad(p) -> bool:
    """A non-finite gradient is still a gradient (nan-values reports it); outside optimizers, graph reach counts."""
    return p.nonzero_grad_steps + p.nonfinite_grad_steps > 0 or (not p.optimizers and p.backwards_reached > 0)


# --- the run itself ----------------------------------------------------------------------------------
@check("run-failed")
def _run_failed(ctx) -> Iterator[Finding]:
    ev = ctx.get("trace")
    if ev.error:
        yield RUN_FAILED.finding(f"the run trace {ev.path} cannot be used: {ev.error}", ev.path, source=TRACE,
                                 severity=Severity.WARNING, evidence={"error": ev.error})
        return
    t = ev.trace
    if t is None:
        return
    base = {"status": t.status, "exit_status": t.exit_status, "optimizer_steps": len(t.steps),
            "command": t.command}
    if t.status == "exception" and t.exception is not None:
        e = t.exception
        path, line = (e.where.path, e.where.line) if e.where else (_entry(t), None)
        yield RUN_FAILED.finding(f"the traced run raised {e.type}: {e.message} after {len(t.steps)} optimizer "
                                 f"step(s)", path, line, source=TRACE,
                                 evidence={**base, "traceback": e.traceback[-6:]})
    elif t.status == "exit" and t.exit_status:
        yield RUN_FAILED.finding(f"the traced run exited with status {t.exit_status} after {len(t.steps)} optimizer "
                                 f"step(s)", _entry(t), source=TRACE, evidence=base)
    elif t.status == "timeout" and not t.steps:
        where = "before its first optimizer step" if not t.backwards else "after backward passes but before any step"
        yield RUN_FAILED.finding(f"the traced run hung {where} and was stopped after {t.timeout:g}s", _entry(t),
                                 source=TRACE, evidence={**base, "hung_at": t.hung_at[-4:]})
    elif t.status in ("no-trace", "interrupted"):
        yield RUN_FAILED.finding(f"the traced run ended without a trace of its own ({t.status}, exit status "
                                 f"{t.exit_status})", _entry(t), source=TRACE,
                                 evidence={**base, "stderr_tail": t.stderr_tail[-2000:]})


@check("stale-trace")
def _stale(ctx) -> Iterator[Finding]:
    ev = ctx.get("trace")
    if ev.trace is None or not ev.stale:
        return
    parts = [f"{len(ev.changed)} changed" if ev.changed else "", f"{len(ev.deleted)} deleted" if ev.deleted else ""]
    names = [*ev.changed, *ev.deleted]
    yield STALE_TRACE.finding(
        f"the run trace is older than the code: of the {len(ev.trace.sources)} project file(s) the traced run "
        f"imported, {' and '.join(p for p in parts if p)} since ({', '.join(names[:5])}"
        f"{', ...' if len(names) > 5 else ''}); its runtime findings describe the old code", ev.path, source=TRACE,
        evidence={"changed": list(ev.changed), "deleted": list(ev.deleted), "imported": len(ev.trace.sources),
                  "command": ev.trace.command})


@check("placeholder-loop")
def _no_steps(ctx) -> Iterator[Finding]:
    t = _trace(ctx)
    if t is None or t.mode == "smoke":
        return
    ran = _finished(t) or t.status == "stopped"
    if not t.steps and (ran or (t.status == "timeout" and t.backwards)):
        yield PLACEHOLDER_LOOP.finding(
            f"observed at run time: {len(t.backwards)} backward pass(es) and no optimizer step "
            f"(run {t.status}, exit status {t.exit_status})", _entry(t), source=TRACE,
            evidence={"backward_passes": len(t.backwards), "optimizer_steps": 0, "status": t.status,
                      "optimizers": [o.cls for o in t.optimizers]})
    elif t.steps and not any(s.params_changed for s in t.steps):
        yield PLACEHOLDER_LOOP.finding(
            f"observed at run time: {len(t.steps)} optimizer step(s) and no parameter ever changed",
            _entry(t), source=TRACE,
            evidence={"optimizer_steps": len(t.steps), "lr": [o.lr for o in t.optimizers],
                      "unchanged": t.steps[0].unchanged_with_grad})


# --- gradients -----------------------------------------------------------------------------------
@check("no-gradient")
def _no_gradient(ctx) -> Iterator[Finding]:
    t = _trace(ctx)
    if t is None or not (t.steps or t.smoke):
        return
    tree = _tree(ctx)
    stepped = {o.id for o in t.optimizers if o.steps}
    trained_roots = {tree.root(p.module) for p in t.parameters if p.module >= 0 and _got_grad(p)}
    dead: set[int] = set()
    frozen: set[int] = set()
    for m in t.modules:
        ps = tree.params_of[m.id]
        if not ps:
            continue
        in_training = tree.root(m.id) in trained_roots or any(set(p.optimizers) & stepped for p in ps)
        trainable = [p for p in ps if p.requires_grad]
        if not in_training:
            continue
        if trainable and not any(_got_grad(p) for p in trainable):
            dead.add(m.id)
        elif not trainable:
            frozen.add(m.id)
    for mids, severity in ((dead, None), (frozen, Severity.INFO)):
        for mid in sorted(mids):
            m = t.modules[mid]
            if m.parent in mids:
                continue  # reported at the highest module
            ps = tree.params_of[mid]
            path, line = _loc(m)
            n = sum(p.numel for p in ps)
            if severity is None:
                msg = (f"observed at run time: {m.path} ({_short(m)}, {n} parameters) never received a gradient in "
                       f"{len(t.steps)} optimizer step(s); called {m.calls} time(s), its output reached the loss "
                       f"{m.outputs_reaching_loss} time(s)")
            else:
                msg = f"{m.path} ({_short(m)}, {n} parameters) is frozen (requires_grad=False) and got no gradient"
            yield NO_GRADIENT.finding(msg, path, line, severity=severity, source=TRACE, evidence={
                "module": m.path, "class": m.cls, "parameters": [p.path for p in ps][:20], "elements": n,
                "in_optimizer": any(p.optimizers for p in ps), "calls": m.calls,
                "outputs_reaching_loss": m.outputs_reaching_loss, "optimizer_steps": len(t.steps)})


@check("nan-values")
def _nan(ctx) -> Iterator[Finding]:
    t = _trace(ctx)
    if t is None:
        return
    bad_loss = [b for b in t.backwards if not b.finite]
    bad_steps = [s for s in t.steps if s.nonfinite_grads]
    if bad_loss or bad_steps:
        first = bad_loss[0].index if bad_loss else None
        yield NAN_VALUES.finding(
            f"observed at run time: the loss was NaN/Inf in {len(bad_loss)} of {len(t.backwards)} backward pass(es)"
            f" (first at backward {first}); {len(bad_steps)} optimizer step(s) had non-finite gradients",
            _entry(t), source=TRACE,
            evidence={"losses": [b.loss for b in t.backwards], "nonfinite_backwards": [b.index for b in bad_loss],
                      "nonfinite_grads": {s.index: s.nonfinite_grads for s in bad_steps}})


# --- data and wiring -----------------------------------------------------------------------------
@check("synthetic-data")
def _synthetic(ctx) -> Iterator[Finding]:
    t = _trace(ctx)
    if t is None or t.mode == "smoke" or not t.backwards:
        return
    sources = {s for b in t.backwards for s in b.provenance}
    if sources & {"data", "external"} or "random" not in sources:
        return
    first = t.random_sources[0] if t.random_sources else None
    path, line = (first.path, first.line) if first else (_entry(t), None)
    yield SYNTHETIC_DATA.finding(
        f"observed at run time: none of the {len(t.backwards)} loss(es) depends on data; their inputs come only "
        f"from random factories" + (f" (first at {first})" if first else ""), path, line, source=TRACE,
        evidence={"loss_provenance": sorted(sources), "random_sources": [str(w) for w in t.random_sources]})


@check("dummy-input")
def _dummy(ctx) -> Iterator[Finding]:
    t = _trace(ctx)
    if t is None:
        return
    tree = _tree(ctx)
    idle = [m for m in t.modules if m.project and tree.params_of[m.id] and (
        m.calls == 0 or (m.calls_with_grad and not m.outputs_reaching_loss))]
    for m in t.modules:
        if not m.dummy_inputs or any(t.modules[a].dummy_inputs for a in tree.ancestors(m.id)):
            continue  # reported at the highest module fed the stand-in
        unused = [u for u in idle if not tree.related(u.id, m.id)]
        if not unused:
            continue  # random inputs with every component in use: noise by design (GAN, diffusion)
        d = m.dummy_inputs[0]
        path, line = _loc(m)
        what = f"{d.arg} of shape {tuple(d.shape)} built only from {'/'.join(d.provenance)} tensors"
        if d.part is not None:  # the stand-in was concatenated onto real features: point at the torch.cat
            what = (f"{d.arg}, a concatenation whose part {d.part} (shape {tuple(d.shape)}) is built only from "
                    f"{'/'.join(d.provenance)} tensors" + (f" (joined at {d.where})" if d.where else ""))
            if d.where is not None:
                path, line = d.where.path, d.where.line
        yield DUMMY_INPUT.finding(
            f"observed at run time: {m.path} ({_short(m)}) received {what}, while "
            f"{', '.join(_short(u) for u in unused[:3])} {'is' if len(unused) == 1 else 'are'} built but not "
            f"feeding the loss", path, line, source=TRACE,
            evidence={"module": m.path, "inputs": [vars(x) for x in m.dummy_inputs],
                      "unused_components": [f"{u.path} ({_short(u)})" for u in unused],
                      "random_sources": [str(w) for w in t.random_sources]})


@check("discarded-output")
def _discarded(ctx) -> Iterator[Finding]:
    t = _trace(ctx)
    if t is None or not t.backwards:
        return
    for m in t.modules:
        if m.tensor_outputs and not m.outputs_consumed and (m.parent is None or t.modules[m.parent].outputs_consumed):
            path, line = _loc(m)
            if path == ".":
                continue
            yield DISCARDED_OUTPUT.finding(
                f"observed at run time: {m.path} ({_short(m)}) was called {m.calls} time(s) and its output was "
                f"never used", path, line, source=TRACE,
                evidence={"module": m.path, "calls": m.calls, "outputs_consumed": 0,
                          "outputs_reaching_loss": m.outputs_reaching_loss})


@check("isolated-training")
def _isolated(ctx) -> Iterator[Finding]:
    t = _trace(ctx)
    if t is None:
        return
    tree = _tree(ctx)
    opts = [o for o in t.optimizers if o.steps and o.covers is not None]
    if len(opts) < 2 or any(tree.related(a.covers, b.covers) for a in opts for b in opts if a is not b):
        return
    owners = {o.id: {p.module for p in t.parameters if o.id in p.optimizers} for o in opts}
    if any(all(owners[o.id] & set(b.modules_reached) for o in opts) for b in t.backwards):
        return
    comps = [t.modules[o.covers] for o in opts]
    common = set(tree.ancestors(comps[0].id))
    for c in comps[1:]:
        common &= set(tree.ancestors(c.id))
    system = min(common, key=lambda mid: len(tree.params_of[mid])) if common else None
    path, line = _loc(t.modules[system] if system is not None else comps[0])
    names = ", ".join(f"{c.path} ({_short(c)})" for c in comps)
    yield ISOLATED_TRAINING.finding(
        f"observed at run time: {len(opts)} optimizers each train one component ({names}) and none of the "
        f"{len(t.backwards)} backward pass(es) reached all of them", path, line, source=TRACE,
        evidence={"optimizers": [{"class": o.cls, "trains": t.modules[o.covers].path, "steps": o.steps}
                                 for o in opts],
                  "backward_reach": [[t.modules[m].path for m in b.modules_reached][:10] for b in t.backwards[:10]]})


@check("placeholder-model")
def _placeholder(ctx) -> Iterator[Finding]:
    t, want = _trace(ctx), ctx.spec.model_name
    if t is None or not want:
        return
    tree = _tree(ctx)
    for o in t.optimizers:
        if not o.steps or o.covers is None:
            continue
        m = t.modules[o.covers]
        family = {o.covers, *tree.ancestors(o.covers)} | {x.id for x in t.modules if o.covers in tree.ancestors(x.id)}
        if any(_short(t.modules[x]) == want for x in family):
            continue
        path, line = _loc(m)
        yield PLACEHOLDER_MODEL.finding(
            f"observed at run time: the optimizer ({o.cls.rsplit('.', 1)[-1]}) steps {m.path} ({_short(m)}), "
            f"not the required {want}", path, line, source=TRACE,
            evidence={"trained": m.cls, "required": ctx.spec.model, "optimizer_steps": o.steps,
                      "traced_classes": sorted({_short(x) for x in t.modules if x.project})})


# --- metrics and artifacts -----------------------------------------------------------------------
_WORD = re.compile(r"[a-z]+")
LOSS_WORDS = {"loss", "nll", "kld", "kl", "elbo"}
EVAL_WORDS = {"val", "valid", "validation", "test", "eval", "evaluation", "dev", "holdout"}
BOOKKEEPING_WORDS = {"lr", "learning", "epoch", "step", "steps", "iter", "time", "sec", "seconds", "elapsed", "eta",
                     "speed", "throughput", "grad", "norm", "gpu", "mem", "memory", "batch", "momentum", "scale"}


def _measures(tag: str) -> bool:
    """A logged tag that measures the model: anything on held-out data, or beyond loss and bookkeeping."""
    words = set(_WORD.findall(tag.lower().replace("learning_rate", "lr")))
    return bool(words & EVAL_WORDS) or not words & (LOSS_WORDS | BOOKKEEPING_WORDS)


def _finished(t: Trace) -> bool:
    """The script ended on its own: what it logged (or saved) is all it would log (or save)."""
    return t.status == "completed" or (t.status == "exit" and not t.exit_status)


@check("missing-metrics")
def _metrics(ctx) -> Iterator[Finding]:
    t = _trace(ctx)
    if t is None or t.mode == "smoke" or not t.steps:
        return
    done = t.status in ("completed", "exit")
    if not t.logs:
        yield MISSING_METRICS.finding(
            f"observed at run time: nothing was logged (no SummaryWriter, Lightning, MLflow or W&B call, no printed "
            f"value) during {len(t.steps)} optimizer step(s)" + ("" if done else "; the run was stopped early"),
            _entry(t), source=TRACE, severity=None if done else Severity.WARNING,
            evidence={"optimizer_steps": len(t.steps), "status": t.status})
        return
    if not _finished(t):
        return  # a stopped run has not reached its validation yet: only the loss so far proves nothing
    tags = sorted({c.tag for c in t.logs})
    kinds = sorted({c.kind for c in t.logs})
    if not any(_measures(tag) for tag in tags):
        yield MISSING_METRICS.finding(
            f"observed at run time: the run completed {len(t.steps)} optimizer step(s) and logged only the training "
            f"loss ({', '.join(tags[:6])}{', ...' if len(tags) > 6 else ''}; via {', '.join(kinds)}): no validation "
            f"or metric beyond the loss", _entry(t), source=TRACE,
            evidence={"logged_tags": tags[:50], "kinds": kinds, "optimizer_steps": len(t.steps), "status": t.status})
    for metric in ctx.spec.metrics:
        if not any(names_metric(tag, metric) for tag in tags):
            yield MISSING_METRICS.finding(
                f"observed at run time: the spec requires the metric '{metric}', but the completed run never "
                f"logged it (logged: {', '.join(tags[:6])}{', ...' if len(tags) > 6 else ''})", _entry(t),
                source=TRACE, evidence={"metric": metric, "logged_tags": tags[:50], "status": t.status})


def _signature(rec: ModuleRecord) -> dict[str, tuple]:
    return {k: tuple(s) for k, s in (rec.state_dict or []) if s is not None}


def _at(w) -> str:
    return f" ({w})" if w is not None and w.in_project else ""


@check("checkpoint-mismatch")
def _checkpoints(ctx) -> Iterator[Finding]:
    """Each checkpoint on disk against the exact traced signature (keys and shapes) of every traced class."""
    t = _trace(ctx)
    if t is None:
        return
    want = ctx.spec.model_name
    sigs = {m.id: sig for m in t.modules if (sig := _signature(m))}
    trained = {o.covers for o in t.optimizers if o.steps and o.covers is not None}
    for ckpt in ctx.get("checkpoints").checkpoints:
        saved = {k: tuple(info.shape) for k, info in ckpt.model_tensors().items()}
        if not saved:
            continue
        # Prefer the trained module, then project classes, then the outermost: the likeliest author of the file.
        fits = sorted((mid for mid, sig in sigs.items() if sig == saved),
                      key=lambda mid: (mid not in trained, not t.modules[mid].project,
                                       t.modules[mid].parent is not None, mid))
        if want:
            yield from _against_spec(t, _tree(ctx), ckpt.path, saved, fits, sigs, want, ctx.spec.model)
        elif not fits:
            yield from _against_trained(t, ckpt.path, saved, {mid: sigs[mid] for mid in trained if mid in sigs})


def _diff(sig: dict[str, tuple], saved: dict[str, tuple]) -> tuple[list[str], list[str], dict[str, list]]:
    missing, extra = sorted(set(sig) - set(saved)), sorted(set(saved) - set(sig))
    shapes = {k: [list(sig[k]), list(saved[k])] for k in sorted(set(sig) & set(saved)) if sig[k] != saved[k]}
    return missing, extra, shapes


def _against_spec(t: Trace, tree: TraceTree, path: str, saved: dict, fits: list[int], sigs: dict, want: str,
                  required: str | None) -> Iterator[Finding]:
    if any(_short(t.modules[a]) == want for mid in fits for a in tree.ancestors(mid, inclusive=True)):
        return  # the required model's state, or one of its components' (a pretrained encoder)
    wanted = [t.modules[mid] for mid in sigs if _short(t.modules[mid]) == want]
    if not fits and not wanted:
        return  # neither side was seen at run time: the static check speaks for this file
    missing, extra, shapes = _diff(sigs[wanted[0].id], saved) if wanted else ([], [], {})
    counts = f"{len(missing)} missing, {len(extra)} unexpected, {len(shapes)} differently shaped tensor(s)"
    versus = (f"; the traced {want}{_at(wanted[0].defined_at)} differs: {counts}" if wanted
              else f"; {want} was not built during the run")
    evidence = {"required": required, "missing": missing[:20], "unexpected": extra[:20],
                "shapes": dict(list(shapes.items())[:20]), "tensors": len(saved)}
    if fits:
        m = t.modules[fits[0]]
        yield CHECKPOINT_MISMATCH.finding(
            f"observed at run time: {path} holds exactly the state of the traced {_short(m)}{_at(m.defined_at)} "
            f"({len(saved)} tensors, keys and shapes identical), not of the required {want}{versus}", path,
            source=TRACE, evidence={**evidence, "fits": [f"{t.modules[x].path} ({t.modules[x].cls})" for x in fits]})
    elif len(set(saved) & set(sigs[wanted[0].id])) >= MIN_LINK_OVERLAP * len(sigs[wanted[0].id]):
        yield CHECKPOINT_MISMATCH.finding(
            f"observed at run time: {path} does not fit the required {want} as traced"
            f"{_at(wanted[0].defined_at)}: {counts}", path, source=TRACE,
            evidence={**evidence, "module": wanted[0].path})


def _against_trained(t: Trace, path: str, saved: dict, sigs: dict[int, dict]) -> Iterator[Finding]:
    for mid, sig in sigs.items():
        if len(set(saved) & set(sig)) < MIN_LINK_OVERLAP * len(sig):
            continue
        missing, extra, shapes = _diff(sig, saved)
        m = t.modules[mid]
        yield CHECKPOINT_MISMATCH.finding(
            f"observed at run time: {path} does not fit the traced {_short(m)}: {len(missing)} missing, "
            f"{len(extra)} unexpected, {len(shapes)} differently shaped tensor(s)", path, source=TRACE,
            evidence={"module": m.path, "missing": missing[:20], "unexpected": extra[:20],
                      "shapes": dict(list(shapes.items())[:20])})


@check("untrained-checkpoint")
def _untrained_saves(ctx) -> Iterator[Finding]:
    """torch.save of a module whose trainable parameters no optimizer step had changed."""
    t = _trace(ctx)
    if t is None or t.mode == "smoke":
        return
    tree = _tree(ctx)
    by_module: dict[int, list[SaveCall]] = {}
    for s in t.saves:
        if s.module is not None and s.params and t.module(s.module) is not None:
            by_module.setdefault(s.module, []).append(s)
    for mid, saves in by_module.items():
        if any(s.params_changed for s in saves):
            continue  # some save holds trained weights
        ps = [p for p in tree.params_of[mid] if p.requires_grad]
        if not ps:
            continue
        holders = {o for p in ps for o in p.optimizers}
        steps = sum(o.steps for o in t.optimizers if o.id in holders)
        changed = sum(1 for p in ps if p.changed_steps)
        if steps and not changed:
            why = (f"none of its {len(ps)} trainable tensors changed in the {steps} optimizer step(s) over them, "
                   f"before or after the save")
        elif _finished(t) and not changed and (holders or not t.steps):
            why = ("the run ended without a single optimizer step over its parameters" if holders
                   else "the run ended without a single optimizer step")
        elif _finished(t) and changed:
            why = "every save came before its parameters first changed; the run ended without saving the trained state"
        else:
            continue  # stopped before any step, or never handed to an optimizer (an EMA copy): cannot tell
        m = t.modules[mid]
        seen: set[tuple] = set()
        for s in saves:
            site = (s.where.path, s.where.line) if s.where is not None else (_entry(t), None)
            if (site, s.path) in seen:
                continue
            seen.add((site, s.path))
            yield UNTRAINED_CHECKPOINT.finding(
                f"observed at run time: torch.save wrote {s.path} with the state of {m.path} ({_short(m)}) after "
                f"{s.after_steps} optimizer step(s) and 0 of its {s.params} trainable tensors changed: {why}",
                *site, source=TRACE,
                evidence={"saved_to": s.path, "what": s.what, "module": m.path, "class": m.cls,
                          "optimizer_steps_before_save": s.after_steps, "trainable_tensors": s.params,
                          "changed_before_save": s.params_changed, "changed_by_end": changed,
                          "optimizer_steps_over_module": steps, "status": t.status})


# --- smoke mode ----------------------------------------------------------------------------------
@check("cannot-overfit")
def _smoke(ctx) -> Iterator[Finding]:
    t = _trace(ctx)
    if t is None or t.smoke is None:
        return
    s = t.smoke
    ev = {"losses": s.losses, "loss_kind": s.loss_kind, "expected_initial": s.expected_initial,
          "output_shape": s.output_shape, "params_with_grad": s.params_with_grad, "params": s.params}
    if not s.loss_fell:
        yield CANNOT_OVERFIT.finding(f"smoke run: the {s.loss_kind} loss did not fall on one repeated batch "
                                     f"({s.losses[0]:.4g} -> {s.losses[-1]:.4g})", ".", source=TRACE, evidence=ev)
    if s.plausible_initial is False:
        exp = f"; about {s.expected_initial:.3g} expected for {s.output_shape[-1]} classes" \
            if s.expected_initial is not None and math.isfinite(s.expected_initial) else ""
        yield CANNOT_OVERFIT.finding(f"smoke run: the initial {s.loss_kind} loss {s.losses[0]:.4g} is implausible"
                                     f"{exp}", ".", source=TRACE, evidence=ev)
