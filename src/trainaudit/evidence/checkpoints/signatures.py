"""Value evidence of a checkpoint's weights: initialisation signatures, non-finite values, content digests."""

from __future__ import annotations

import hashlib
import math
import re
from dataclasses import dataclass, field

from trainaudit.evidence.checkpoints.model import Checkpoint, TensorInfo
from trainaudit.evidence.checkpoints.values import TensorStats, tensor_digest, tensor_stats

MAX_VALUE_BYTES = 8 * 1024**3  # beyond this, values of one checkpoint are not analysed
_NORM_NAME = re.compile(r"(^|[._])(norm\w*|ln\w*|bn\w*|gn\w*|layer_?norm\w*|batch_?norm\w*)$", re.IGNORECASE)
_NOT_LINEAR = re.compile(r"emb|pos|token|cls|query|mask|codebook", re.IGNORECASE)


@dataclass
class WeightSignatures:
    """What the values say about whether the weights were ever updated."""

    analysed: bool = True
    why_not: str = ""
    bn_layers: list[str] = field(default_factory=list)
    bn_untouched: list[str] = field(default_factory=list)  # running stats 0/1 and num_batches_tracked 0
    norm_layers: list[str] = field(default_factory=list)
    norm_default: list[str] = field(default_factory=list)  # weight all 1 and bias all 0
    linear_layers: list[str] = field(default_factory=list)
    linear_default: list[str] = field(default_factory=list)  # inside U(+-1/sqrt(fan_in)) with its variance
    linear_elements: int = 0
    nonfinite: list[tuple[str, int, int]] = field(default_factory=list)  # (tensor, NaN count, Inf count)
    unreadable: list[str] = field(default_factory=list)


def _stats(t: TensorInfo, cache: dict[str, TensorStats | None], problems: list[str]) -> TensorStats | None:
    if t.name not in cache:
        try:
            cache[t.name] = tensor_stats(t)
        except ValueError as exc:
            problems.append(str(exc))
            cache[t.name] = None
    return cache[t.name]


def weight_signatures(ckpt: Checkpoint) -> WeightSignatures:
    """Read each model tensor once (streaming) and summarise; cached on the checkpoint."""
    cached = ckpt.cache.get("signatures")
    if cached is not None:
        return cached
    sig = WeightSignatures()
    ckpt.cache["signatures"] = sig
    tensors = ckpt.model_tensors()
    total = sum(t.nbytes for t in tensors.values())
    if total > MAX_VALUE_BYTES:
        sig.analysed, sig.why_not = False, f"{total} bytes of weights; values over {MAX_VALUE_BYTES} are not read"
        return sig
    stats: dict[str, TensorStats | None] = ckpt.cache.setdefault("stats", {})
    by_name = {k: _stats(t, stats, sig.unreadable) for k, t in tensors.items()}
    for key, st in by_name.items():
        if st is not None and (st.nan or st.inf):
            sig.nonfinite.append((key, st.nan, st.inf))
    for key in tensors:
        if not key.endswith(".running_mean") and key != "running_mean":
            continue
        prefix = key[: -len("running_mean")].rstrip(".")
        dot = f"{prefix}." if prefix else ""
        mean, var, nbt = (by_name.get(f"{dot}{n}") for n in ("running_mean", "running_var", "num_batches_tracked"))
        sig.bn_layers.append(prefix)
        if mean and var and mean.constant == 0.0 and var.constant == 1.0 and (nbt is None or nbt.constant == 0.0):
            sig.bn_untouched.append(prefix)
    for key, t in tensors.items():
        if not key.endswith("weight") or len(t.shape) != 1:
            continue
        prefix = key[: -len("weight")].rstrip(".")
        dot = f"{prefix}." if prefix else ""
        bias = tensors.get(f"{dot}bias")
        if f"{dot}running_mean" not in tensors and not _NORM_NAME.search(prefix):
            continue
        sig.norm_layers.append(prefix)
        w, b = by_name.get(key), by_name.get(f"{dot}bias")  # by_name has the keys of tensors
        if w is not None and w.constant == 1.0 and (bias is None or (b is not None and b.constant == 0.0)):
            sig.norm_default.append(prefix)
    for key, t in tensors.items():
        if not (key == "weight" or key.endswith(".weight")) or len(t.shape) < 2 or _NOT_LINEAR.search(key):
            continue
        st = by_name.get(key)
        if st is None:
            continue
        sig.linear_layers.append(key[: -len(".weight")] if "." in key else "")
        sig.linear_elements += st.count
        if _default_uniform(st, math.prod(t.shape[1:])):
            sig.linear_default.append(sig.linear_layers[-1])
    return sig


def _default_uniform(st: TensorStats, fan_in: int) -> bool:
    """torch's default Linear/Conv init: kaiming_uniform(a=sqrt(5)) = U(-1/sqrt(fan_in), 1/sqrt(fan_in))."""
    if fan_in <= 0 or st.count < 16 or st.absmax is None or st.var is None or st.mean is None or st.nan or st.inf:
        return False
    bound = 1.0 / math.sqrt(fan_in)
    expected_var = bound * bound / 3.0
    tol = 5.0 * math.sqrt(0.8 / st.count) + 0.01  # sample variance of a uniform: relative sd sqrt(0.8/n)
    mean_tol = 5.0 * math.sqrt(expected_var / st.count)
    return (st.absmax <= bound * (1 + 1e-6) and abs(st.var / expected_var - 1.0) <= tol
            and abs(st.mean) <= mean_tol)


def weights_digest(ckpt: Checkpoint) -> str | None:
    """One digest over every model tensor's name and bytes; None if any cannot be read."""
    if "digest" not in ckpt.cache:
        h = hashlib.sha256()
        digest: str | None = None
        for key, t in sorted(ckpt.model_tensors().items()):
            part = tensor_digest(t)
            if part is None:
                break
            h.update(key.encode() + b"\0" + part.encode())
        else:
            digest = h.hexdigest()
        ckpt.cache["digest"] = digest
    return ckpt.cache["digest"]
