"""Rules over checkpoint evidence: unsafe pickles, weights of the wrong model, weights never trained."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import TYPE_CHECKING

from trainaudit.evidence.checkpoints.model import Checkpoint, count_parameters
from trainaudit.evidence.checkpoints.signatures import weight_signatures, weights_digest
from trainaudit.evidence.module_shapes import Match, ShapeDeriver, Structure, match
from trainaudit.finding import Finding, Severity
from trainaudit.rules.engine_rules import PARSE_ERROR
from trainaudit.rules.logs import NAN_VALUES
from trainaudit.rules.registry import Rule, check, register

if TYPE_CHECKING:
    from trainaudit.context import AuditContext
    from trainaudit.evidence.index import ClassInfo

UNSAFE_PICKLE = register(
    Rule("TA601", "unsafe-pickle", "artifacts", Severity.ERROR,
         "A checkpoint's pickle names globals outside the weights allowlist: loading it runs code.",
         remedy="Re-save the weights as a plain state_dict (or safetensors) and load with weights_only=True.")
)
CHECKPOINT_MISMATCH = register(
    Rule("TA602", "checkpoint-mismatch", "artifacts", Severity.ERROR,
         "The checkpoint's tensor names and shapes fit a model other than the required one, or none.",
         remedy="Save the state_dict of the required model{model} after training it.")
)
UNTRAINED_CHECKPOINT = register(
    Rule("TA603", "untrained-checkpoint", "artifacts", Severity.ERROR,
         "The checkpoint's weights carry the exact signatures of initialisation, or repeat another epoch's.",
         remedy="Save the checkpoint after optimizer steps have updated the weights.")
)

STANDIN_NAME = re.compile(r"^(Simple|Simplified|Dummy|Toy|Placeholder|Mock|Fake|Stub)[A-Z_0-9]")
_CLAIM = re.compile(r"(epoch|ep|step|iter|global_step)[=_-]?(\d+)", re.IGNORECASE)


def _checkpoints(ctx: AuditContext) -> list[Checkpoint]:
    return ctx.get("checkpoints").checkpoints


def _fmt(n: int) -> str:
    return f"{n:,}"


def _params(s: Structure) -> str:
    """A derived parameter count, marked as a lower bound when parts of the class could not be derived."""
    return f"{'' if s.complete else 'at least '}{_fmt(s.parameter_count)}"


# -- unsafe-pickle ---------------------------------------------------------------------------------
@check("unsafe-pickle")
def _unsafe_pickles(ctx: AuditContext) -> Iterator[Finding]:
    for ckpt in _checkpoints(ctx):
        if not ckpt.unsafe:
            continue
        names = list(dict.fromkeys(f"{u.dotted} (in {u.where})" for u in ckpt.unsafe))
        yield UNSAFE_PICKLE.finding(
            f"{ckpt.path} names {len(names)} global(s) outside the weights allowlist: {', '.join(names[:8])}"
            f"{' ...' if len(names) > 8 else ''}. torch.load(weights_only=False) would import and call them: "
            "loading this file executes code. (trainaudit read it without importing any of them.)",
            ckpt.path, source="checkpoint",
            evidence={"globals": [{"module": u.module, "name": u.name, "where": u.where} for u in ckpt.unsafe],
                      "format": ckpt.format},
        )


# -- unreadable checkpoints (unmatched spec globs are reported in engine_rules) --------------------
@check("parse-error")
def _unreadable_checkpoints(ctx: AuditContext) -> Iterator[Finding]:
    for ckpt in _checkpoints(ctx):
        for problem in ckpt.problems[:5]:
            yield PARSE_ERROR.finding(f"checkpoint {ckpt.path}: {problem}", ckpt.path, source="checkpoint",
                                      evidence={"format": ckpt.format, "problem": problem})


# -- checkpoint-mismatch ---------------------------------------------------------------------------
def _describe(m: Match) -> str:
    parts = []
    if m.missing:
        parts.append(f"{len(m.missing)} missing (e.g. {', '.join(m.missing[:3])})")
    if m.unexpected:
        parts.append(f"{len(m.unexpected)} unexpected (e.g. {', '.join(m.unexpected[:3])})")
    if m.wrong_shape:
        shown = ", ".join(f"{n} {list(a)} vs {list(b)}" for n, a, b in m.wrong_shape[:3])
        parts.append(f"{len(m.wrong_shape)} with other shapes ({shown})")
    return "; ".join(parts) or "no tensor in common"


@check("checkpoint-mismatch")
def _mismatch(ctx: AuditContext) -> Iterator[Finding]:
    ckpts = [c for c in _checkpoints(ctx) if c.model_tensors()]
    if not ckpts:
        return
    index = ctx.source.index
    deriver = ShapeDeriver(index)
    classes = [c for c in index.classes.values() if index.is_module(c) and not c.file.is_test]
    structures: dict[str, Structure] = {c.qualname: deriver.structure(c) for c in classes}
    by_qual = {c.qualname: c for c in classes}
    required = [c for c in index.class_named(ctx.spec.model_name) if c.qualname in structures] \
        if ctx.spec.model_name else []
    for ckpt in ckpts:
        shapes = {k: t.shape for k, t in ckpt.model_tensors().items()}
        matches = sorted((match(q, shapes, s) for q, s in structures.items()),
                         key=lambda m: (m.fits, m.exact, m.score, m.matched), reverse=True)
        best = matches[0] if matches and matches[0].fits else None
        count = count_parameters(shapes)
        if required:
            yield from _against_required(ckpt, count, best, matches, required, structures)
        else:
            yield from _without_spec(ckpt, count, best, classes, structures, by_qual)


def _evidence(ckpt: Checkpoint, count: int, m: Match | None, structures: dict[str, Structure]) -> dict:
    ev = {"checkpoint": ckpt.path, "checkpoint_parameters": count, "tensors": len(ckpt.model_tensors())}
    if m is not None:
        ev |= {"class": m.cls, "class_parameters": structures[m.cls].parameter_count, "matched": m.matched,
               "exact": m.exact, "missing": list(m.missing[:20]), "unexpected": list(m.unexpected[:20]),
               "wrong_shape": [[n, list(a), list(b)] for n, a, b in m.wrong_shape[:20]]}
    return ev


def _against_required(ckpt: Checkpoint, count: int, best: Match | None, matches: list[Match],
                      required: list[ClassInfo], structures: dict[str, Structure]) -> Iterator[Finding]:
    req_names = {c.qualname for c in required}
    req_matches = [m for m in matches if m.cls in req_names]
    if any(m.fits for m in req_matches):
        return
    req = req_matches[0]
    req_struct = structures[req.cls]
    req_count = _params(req_struct)
    short = req.cls.rsplit(".", 1)[-1]
    ev = _evidence(ckpt, count, best, structures) | {
        "required": req.cls, "required_parameters": req_struct.parameter_count,
        "required_complete": req_struct.complete, "required_match": _evidence(ckpt, count, req, structures)}
    if best is not None:
        yield CHECKPOINT_MISMATCH.finding(
            f"{ckpt.path} holds the weights of {best.cls.rsplit('.', 1)[-1]} ({_fmt(count)} parameters; every "
            f"tensor name and shape matches {best.cls}), not of the required {short} ({req_count} parameters): "
            f"against {short}: {_describe(req)}",
            ckpt.path, source="checkpoint", evidence=ev)
        return
    severity = Severity.ERROR if req_struct.complete else Severity.WARNING
    unsure = "" if req_struct.complete else (
        f" (parts of {short} could not be derived statically: {', '.join(req_struct.unresolved[:4]) or 'root'};"
        " lower confidence)")
    yield CHECKPOINT_MISMATCH.finding(
        f"{ckpt.path} ({_fmt(count)} parameters) does not fit the required {short} ({req_count} parameters) "
        f"nor any other project model: {_describe(req)}{unsure}",
        ckpt.path, source="checkpoint", evidence=ev, severity=severity)


def _without_spec(ckpt: Checkpoint, count: int, best: Match | None, classes: list[ClassInfo],
                  structures: dict[str, Structure], by_qual: dict[str, ClassInfo]) -> Iterator[Finding]:
    if best is None:
        return
    name = best.cls.rsplit(".", 1)[-1]
    ev = _evidence(ckpt, count, best, structures)
    if STANDIN_NAME.match(name):
        inner = {k.split(".", 1)[0] for k in structures[best.cls].tensors}
        others = [c for c in classes if c.qualname != best.cls and not STANDIN_NAME.match(c.name)
                  and c.name not in inner and structures[c.qualname].parameter_count > 0]
        if others:
            real = max(others, key=lambda c: structures[c.qualname].parameter_count)
            s = structures[real.qualname]
            ev |= {"project_model": real.qualname, "project_model_parameters": s.parameter_count}
            yield CHECKPOINT_MISMATCH.finding(
                f"{ckpt.path} holds the weights of the stand-in {name} ({_fmt(count)} parameters), while the "
                f"project defines {real.name} ({_params(s)} parameters)",
                ckpt.path, source="checkpoint", evidence=ev)
            return
    yield CHECKPOINT_MISMATCH.finding(
        f"{ckpt.path} fits {best.cls} ({_fmt(count)} parameters{'' if best.exact else ', partly derived'})",
        ckpt.path, source="checkpoint", evidence=ev, severity=Severity.INFO)


# -- untrained-checkpoint -------------------------------------------------------------------------
def _claim(ckpt: Checkpoint) -> tuple[int | None, int | None]:
    """(epoch, step) from metadata, else from the file name (`epoch=3`, `step_1200`)."""
    meta = ckpt.metadata
    epoch = meta.get("epoch") if isinstance(meta.get("epoch"), int) else None
    step = next((meta[k] for k in ("global_step", "step", "iteration") if isinstance(meta.get(k), int)), None)
    if epoch is None and step is None:
        for kind, num in _CLAIM.findall(ckpt.path.rsplit("/", 1)[-1]):
            if kind.lower() in ("epoch", "ep"):
                epoch = int(num)
            else:
                step = int(num)
    return epoch, step


@check("untrained-checkpoint")
def _untrained(ctx: AuditContext) -> Iterator[Finding]:
    ckpts = [c for c in _checkpoints(ctx) if c.model_tensors()]
    for ckpt in ckpts:
        sig = weight_signatures(ckpt)
        reasons = []
        step = ckpt.metadata.get("global_step")
        if isinstance(step, int) and not isinstance(step, bool) and step == 0:
            reasons.append("metadata says global_step 0")
        if sig.bn_layers and len(sig.bn_untouched) == len(sig.bn_layers):
            reasons.append(f"all {len(sig.bn_layers)} BatchNorm layers have running_mean 0, running_var 1 and "
                           "num_batches_tracked 0")
        if sig.norm_layers and len(sig.norm_default) == len(sig.norm_layers):
            reasons.append(f"all {len(sig.norm_layers)} norm layers have weight exactly 1 and bias exactly 0")
        if sig.linear_layers and len(sig.linear_default) == len(sig.linear_layers) and sig.linear_elements >= 256:
            reasons.append(f"all {len(sig.linear_layers)} Linear/Conv weights lie inside U(+-1/sqrt(fan_in)) "
                           "with that uniform's variance (torch's default initialisation)")
        if not reasons:
            continue
        epoch = ckpt.metadata.get("epoch")
        claim = f" although it claims epoch {epoch}" if isinstance(epoch, int) and epoch > 0 else ""
        yield UNTRAINED_CHECKPOINT.finding(
            f"{ckpt.path} holds initial, never-updated weights{claim}: {'; '.join(reasons)}",
            ckpt.path, source="checkpoint",
            evidence={"signatures": reasons, "bn_untouched": sig.bn_untouched[:20],
                      "norm_default": sig.norm_default[:20], "linear_default": sig.linear_default[:20],
                      "epoch": epoch, "global_step": step})
    yield from _repeated_weights(ckpts)


def _repeated_weights(ckpts: list[Checkpoint]) -> Iterator[Finding]:
    """Checkpoints that claim different epochs or steps but hold byte-identical weights."""
    groups: dict[tuple, list[Checkpoint]] = {}
    for c in ckpts:
        key = tuple(sorted((k, t.dtype, t.shape) for k, t in c.model_tensors().items()))
        groups.setdefault(key, []).append(c)
    for group in groups.values():
        claimed = [(c, claim) for c in group if (claim := _claim(c)) != (None, None)]
        seen: dict[str, tuple[Checkpoint, tuple[int | None, int | None]]] = {}
        for c, claim in sorted(claimed, key=lambda x: (x[1][0] or 0, x[1][1] or 0)):
            digest = weights_digest(c)
            if digest is None:
                continue
            if digest in seen and seen[digest][1] != claim:
                first, first_claim = seen[digest]
                yield UNTRAINED_CHECKPOINT.finding(
                    f"{c.path} ({_claim_text(claim)}) holds exactly the same weights as {first.path} "
                    f"({_claim_text(first_claim)}): no training happened between them",
                    c.path, source="checkpoint",
                    evidence={"same_as": first.path, "claim": list(claim), "other_claim": list(first_claim),
                              "sha256": digest})
            seen.setdefault(digest, (c, claim))


def _claim_text(claim: tuple[int | None, int | None]) -> str:
    epoch, step = claim
    return ", ".join(p for p in (f"epoch {epoch}" if epoch is not None else "",
                                 f"step {step}" if step is not None else "") if p)


# -- nan-values: non-finite weights ------------------------------------------------------------------
@check("nan-values")
def _nonfinite_weights(ctx: AuditContext) -> Iterator[Finding]:
    for ckpt in _checkpoints(ctx):
        if not ckpt.model_tensors():
            continue
        sig = weight_signatures(ckpt)
        if not sig.nonfinite:
            continue
        shown = ", ".join(f"{n} ({nan} NaN, {inf} Inf)" for n, nan, inf in sig.nonfinite[:5])
        yield NAN_VALUES.finding(
            f"{ckpt.path} holds non-finite weights in {len(sig.nonfinite)} tensor(s): {shown}",
            ckpt.path, source="checkpoint",
            evidence={"tensors": [{"name": n, "nan": nan, "inf": inf} for n, nan, inf in sig.nonfinite[:50]]})
