"""Stated metric values and trajectories against logged series: which series a claim is about, and whether
one of them holds the stated value at the precision the document gives."""

from __future__ import annotations

import bisect
import math

from trainaudit.claims.artefacts import LoggedSeries
from trainaudit.claims.model import Claim
from trainaudit.claims.vocab import METRICS
from trainaudit.evidence.logs.names import tokens
from trainaudit.evidence.metrics_facts import names_metric

# Metrics a series can be matched against; throughput ("it/s") is about the machine, not the logs.
LOGGED_METRICS = frozenset(METRICS.values())
LOWER_IS_BETTER = frozenset({"loss", "val loss", "train loss", "test loss", "mse", "rmse", "mae", "perplexity",
                             "wer", "cer", "fid", "kl"})
# Metrics written as fractions by code and as percentages in documents.
RATIOS = frozenset({"accuracy", "f1", "dice", "iou", "miou", "auc", "auroc", "precision", "recall", "map", "ssim"})

_CLAIM_SPLITS = {"train": "train", "training": "train", "val": "val", "validation": "val", "dev": "val",
                 "holdout": "val", "test": "test"}
_TAG_SPLITS = {"train": {"train"}, "training": {"train"}, "trn": {"train"}, "val": {"val"}, "valid": {"val"},
               "validation": {"val"}, "dev": {"val"}, "holdout": {"val"}, "test": {"test"},
               "eval": {"val", "test"}, "evaluation": {"val", "test"}}
_SUBJECT_SPLIT = {"val loss": "val", "train loss": "train", "test loss": "test"}


def claim_split(c: Claim) -> str | None:
    """The one data split a claim is about ("Validation accuracy" -> val), or None when unsaid or several."""
    if c.subject in _SUBJECT_SPLIT:
        return _SUBJECT_SPLIT[c.subject]
    found = {_CLAIM_SPLITS[w] for w in c.data.get("quals", ()) if w in _CLAIM_SPLITS}
    return found.pop() if len(found) == 1 else None


def tag_splits(tag: str) -> set[str]:
    out: set[str] = set()
    for t in tokens(tag):
        out |= _TAG_SPLITS.get(t, set())
    return out


def matching_series(c: Claim, series: list[LoggedSeries]) -> list[LoggedSeries]:
    """Series whose tag names the claim's metric and whose split, if the tag says one, is the claim's."""
    if c.subject not in LOGGED_METRICS:
        return []
    split = claim_split(c)
    out = []
    for s in series:
        if not any(math.isfinite(v) for v in s.values) or not names_metric(s.tag, c.subject):
            continue
        splits = tag_splits(s.tag)
        if split and splits and split not in splits:
            continue  # "val/accuracy" does not speak to a claimed test accuracy
        out.append(s)
    return out


def scales(c: Claim, s: LoggedSeries) -> tuple[float, ...]:
    """Ways to read the series in the claim's units: percentages may be logged as fractions."""
    value = c.value[-1] if isinstance(c.value, tuple) else c.value
    frac = all(abs(v) <= 1.0 for v in s.values if math.isfinite(v))
    if frac and (c.data.get("pct") or (c.subject in RATIOS and 1.0 < abs(value) <= 100.0)):
        return (100.0, 1.0)
    return (1.0,)


def tolerance(decimals: int, approx: bool) -> float:
    """Half a unit of the last stated digit ("95.3" is 95.25..95.35); a whole unit when marked approximate."""
    unit = 10.0 ** -decimals
    return (unit if approx else 0.5 * unit) + 1e-9 * max(1.0, unit)


def holds(v: float, value: float, tol: float, scale: float) -> bool:
    return math.isfinite(v) and abs(v * scale - value) <= tol + 1e-9 * abs(value)


def fmt(v: float, scale: float, pct: bool) -> str:
    shown = f"{v * scale:.6g}"
    return shown + ("%" if pct and scale == 100.0 else "")


def best(subject: str, s: LoggedSeries) -> float:
    return s.ordered[0] if subject in LOWER_IS_BETTER else s.ordered[-1]


def holds_any(s: LoggedSeries, value: float, tol: float, scale: float) -> bool:
    """Whether some point lies within the tolerance: a binary search, not a scan."""
    lo, hi = (value - tol - 1e-9 * abs(value)) / scale, (value + tol + 1e-9 * abs(value)) / scale
    i = bisect.bisect_left(s.ordered, lo)
    return i < len(s.ordered) and s.ordered[i] <= hi


def last(values: tuple[float, ...]) -> float:
    return next(v for v in reversed(values) if math.isfinite(v))


def value_held(c: Claim, s: LoggedSeries) -> str | None:
    """Where the series holds the claimed value: its last value, its best value, or a value at some step."""
    tol = tolerance(c.data.get("decimals", 0), c.data.get("approx", False))
    pct = c.data.get("pct", False)
    lv, bv = last(s.values), best(c.subject, s)
    for scale in scales(c, s):
        if holds(lv, c.value, tol, scale):
            return f"last value {fmt(lv, scale, pct)}"
        if holds(bv, c.value, tol, scale):
            i = s.values.index(bv)
            return f"best value {fmt(bv, scale, pct)} at step {s.step(i)}"
        if holds_any(s, c.value, tol, scale):
            i, v = next((i, v) for i, v in enumerate(s.values) if holds(v, c.value, tol, scale))
            return f"value {fmt(v, scale, pct)} at step {s.step(i)} (last {fmt(lv, scale, pct)})"
    return None


def summary(c: Claim, s: LoggedSeries) -> str:
    """The series' last and best values, in the claim's units."""
    scale = scales(c, s)[0]
    pct = c.data.get("pct", False)
    return (f"{s.tag} in {s.source}: last {fmt(last(s.values), scale, pct)}, best "
            f"{fmt(best(c.subject, s), scale, pct)} over {len(s.values)} points")


def trajectory_held(c: Claim, s: LoggedSeries) -> str | None:
    """Whether the series runs from the stated first value to the stated last one (or passes both, in order)."""
    (a, b), (da, db) = c.value, c.data.get("decimals", (0, 0))
    ta, tb = tolerance(da, False), tolerance(db, False)
    pct = c.data.get("pct", False)
    pts = [(i, v) for i, v in enumerate(s.values) if math.isfinite(v)]
    (i0, first), (i1, final) = pts[0], pts[-1]
    for scale in scales(c, s):
        if holds(first, a, ta, scale) and holds(final, b, tb, scale):
            return (f"first value {fmt(first, scale, pct)} (step {s.step(i0)}), last value {fmt(final, scale, pct)} "
                    f"(step {s.step(i1)}), {len(s.values)} points")
        start = next((i for i, v in pts if holds(v, a, ta, scale)), None)
        if start is not None:
            end = next((i for i, v in reversed(pts) if i > start and holds(v, b, tb, scale)), None)
            if end is not None:
                return (f"{fmt(s.values[start], scale, pct)} at step {s.step(start)}, {fmt(s.values[end], scale, pct)} "
                        f"at step {s.step(end)}")
    return None


def trajectory_summary(c: Claim, s: LoggedSeries) -> str:
    scale = scales(c, s)[0]
    pct = c.data.get("pct", False)
    pts = [v for v in s.values if math.isfinite(v)]
    return (f"{s.tag} in {s.source}: first {fmt(pts[0], scale, pct)}, last {fmt(pts[-1], scale, pct)} over "
            f"{len(s.values)} points")


def first(values: tuple[float, ...]) -> float:
    return next(v for v in values if math.isfinite(v))
