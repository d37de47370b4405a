"""Smoke mode: build the model, take one batch, train N steps on it; can it overfit, is the first loss sane?"""

from __future__ import annotations

import importlib
import math
from typing import Any

import torch
import torch.nn.functional as F

from trainaudit.tracer.trace import SmokeRecord

LR = 1e-3


def load(ref: str) -> Any:
    """`pkg.module:attr` (or `pkg.module.attr`) to the object it names."""
    mod, _, attr = ref.partition(":") if ":" in ref else ref.rpartition(".")
    if not mod or not attr:
        raise ValueError(f"{ref!r}: expected pkg.module:name")
    obj: Any = importlib.import_module(mod)
    for part in attr.split("."):
        obj = getattr(obj, part)
    return obj


def _infer_batch(model: torch.nn.Module) -> Any:
    """An input for the first Linear / Conv / Embedding layer, when no batch function is given."""
    for m in model.modules():
        if isinstance(m, torch.nn.Linear):
            return torch.randn(8, m.in_features)
        if isinstance(m, torch.nn.Conv2d):
            return torch.randn(8, m.in_channels, 32, 32)
        if isinstance(m, torch.nn.Conv1d):
            return torch.randn(8, m.in_channels, 64)
        if isinstance(m, torch.nn.Embedding):
            return torch.randint(0, m.num_embeddings, (8, 16))
    raise ValueError("cannot infer an input for this model; pass --batch pkg.module:batch_fn")


def _split(batch: Any) -> tuple[Any, Any]:
    if isinstance(batch, (tuple, list)) and len(batch) == 2:
        return batch[0], batch[1]
    if isinstance(batch, dict):
        for x, y in (("x", "y"), ("inputs", "targets"), ("input", "target"), ("features", "labels")):
            if x in batch and y in batch:
                return batch[x], batch[y]
    return batch, None


def _forward(model: torch.nn.Module, inputs: Any) -> torch.Tensor:
    if isinstance(inputs, dict):
        out = model(**inputs)
    elif isinstance(inputs, (tuple, list)):
        out = model(*inputs)
    else:
        out = model(inputs)
    if isinstance(out, dict):
        out = out.get("logits", next(iter(out.values())))
    elif isinstance(out, (tuple, list)):
        out = out[0]
    return out


def _loss(out: torch.Tensor, inputs: Any, target: Any) -> tuple[torch.Tensor, str, float | None]:
    """Cross-entropy for class targets (expected first loss ln C), else mean squared error."""
    if isinstance(target, torch.Tensor) and not target.is_floating_point() and out.dim() >= 2 \
            and out.shape[0] == target.shape[0]:
        classes = out.shape[-1] if out.dim() == target.dim() + 1 else out.shape[1]
        logits = out if out.dim() == 2 else out.movedim(1, -1).reshape(-1, classes)
        return F.cross_entropy(logits, target.reshape(-1)), "cross-entropy", math.log(classes)
    if isinstance(target, torch.Tensor) and target.shape == out.shape:
        return F.mse_loss(out, target.to(out.dtype)), "mse", None
    if target is None and isinstance(inputs, torch.Tensor) and inputs.shape == out.shape:
        return F.mse_loss(out, inputs), "reconstruction-mse", None
    return out.float().pow(2).mean(), "output-l2", None


def run_smoke(model_ref: str, batch_ref: str | None, steps: int) -> SmokeRecord:
    made = load(model_ref)
    model = made() if callable(made) and not isinstance(made, torch.nn.Module) else made
    if not isinstance(model, torch.nn.Module):
        raise TypeError(f"{model_ref} gave {type(model).__name__}, not a torch.nn.Module")
    batch = load(batch_ref)() if batch_ref else _infer_batch(model)
    inputs, target = _split(batch)
    model.train()
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.Adam(params, lr=LR)
    losses: list[float] = []
    kind, expected, shape, with_grad = "", None, [], 0
    for i in range(steps):
        opt.zero_grad(set_to_none=True)
        out = _forward(model, inputs)
        loss, kind, expected = _loss(out, inputs, target)
        shape = list(out.shape)
        losses.append(float(loss.detach()))
        loss.backward()
        if i == 0:
            with_grad = sum(1 for p in params if p.grad is not None and bool(p.grad.ne(0).any()))
        opt.step()
    with torch.no_grad():
        losses.append(float(_loss(_forward(model, inputs), inputs, target)[0]))
    first = losses[0]
    plausible = None
    if expected is not None and math.isfinite(first):
        plausible = abs(first - expected) <= max(1.0, 0.5 * expected)
    elif not math.isfinite(first):
        plausible = False
    return SmokeRecord(model=model_ref, batch=batch_ref, loss_kind=kind, output_shape=shape, losses=losses,
                       loss_fell=math.isfinite(losses[-1]) and losses[-1] < first, expected_initial=expected,
                       plausible_initial=plausible, params=len(params), params_with_grad=with_grad)
