"""Robust statistics over series: Mann-Kendall trend, Theil-Sen slope, exact-formula detection. Stdlib only."""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import median

MAX_BLOCKS = 100  # long series are reduced to block medians: O(n^2) tests stay cheap and noise shrinks
Z_SIGNIFICANT = 1.645  # one-sided 5% level


@dataclass(frozen=True)
class Trend:
    """The verdict of the trend test on one series, with the numbers behind it."""

    direction: str  # decreasing | increasing | flat | too-short
    points: int
    z: float  # Mann-Kendall z on the block medians
    slope: float  # Theil-Sen slope of the block medians, per block
    start: float  # level at the start (median of the first few finite points)
    end: float  # level at the end (median of the last fifth)
    noise: float  # robust spread of the end segment (1.4826 * MAD)
    relative_drop: float  # (start - end) / |start|, or the fitted drop when larger


def finite(values: list[float]) -> list[float]:
    return [v for v in values if math.isfinite(v)]


def block_medians(values: list[float], max_blocks: int = MAX_BLOCKS) -> list[float]:
    n = len(values)
    if n <= max_blocks:
        return list(values)
    return [median(values[i * n // max_blocks:(i + 1) * n // max_blocks]) for i in range(max_blocks)]


def mann_kendall_z(values: list[float]) -> float:
    """Mann-Kendall z with the tie correction; negative means a downward trend."""
    n = len(values)
    if n < 3:
        return 0.0
    s = 0
    for i in range(n - 1):
        vi = values[i]
        for j in range(i + 1, n):
            d = values[j] - vi
            s += (d > 0) - (d < 0)
    ties: dict[float, int] = {}
    for v in values:
        ties[v] = ties.get(v, 0) + 1
    var = (n * (n - 1) * (2 * n + 5) - sum(t * (t - 1) * (2 * t + 5) for t in ties.values() if t > 1)) / 18
    if var <= 0:
        return 0.0
    return (s - 1) / math.sqrt(var) if s > 0 else (s + 1) / math.sqrt(var) if s < 0 else 0.0


def theil_sen_slope(values: list[float]) -> float:
    slopes = [(values[j] - values[i]) / (j - i) for i in range(len(values)) for j in range(i + 1, len(values))]
    return median(slopes) if slopes else 0.0


def mad_sigma(values: list[float]) -> float:
    if not values:
        return 0.0
    m = median(values)
    return 1.4826 * median(abs(v - m) for v in values)


def trend(values: list[float], min_points: int = 5) -> Trend:
    """Is the series going down, up, or nowhere? Robust to noise, outliers and a quick early drop."""
    vals = finite(values)
    n = len(vals)
    if n < min_points:
        lvl = vals[0] if vals else math.nan
        return Trend("too-short", n, 0.0, 0.0, lvl, vals[-1] if vals else math.nan, 0.0, 0.0)
    blocks = block_medians(vals)
    z = mann_kendall_z(blocks)
    slope = theil_sen_slope(blocks)
    head = vals[: max(1, min(3, n // 10))]  # the untrained level: the very first points
    tail = vals[-max(2, n // 5):]
    start, end = median(head), median(tail)
    noise = mad_sigma(tail)
    scale = max(abs(start), abs(end), 1e-12)
    fitted_drop = -slope * (len(blocks) - 1)
    rel = max(start - end, fitted_drop) / scale
    dropped = start - end > 2 * noise and start > end
    if (z <= -Z_SIGNIFICANT or dropped) and rel >= 0.01:
        direction = "decreasing"
    elif z >= Z_SIGNIFICANT and end > start:
        direction = "increasing"
    else:
        direction = "flat"
    return Trend(direction, n, z, slope, start, end, noise, rel)


@dataclass(frozen=True)
class Formula:
    """An exact closed form a series follows: constant, linear or geometric in the step, or 1/(step+1)."""

    kind: str  # constant | linear | geometric | reciprocal
    a: float
    b: float
    max_residual: float

    def describe(self) -> str:
        if self.kind == "constant":
            return f"constant {self.a:.6g}"
        if self.kind == "linear":
            return f"{self.a:.6g} + {self.b:.6g} * step"
        if self.kind == "geometric":
            return f"{self.a:.6g} * {self.b:.6g} ** step"
        return f"{self.a:.6g} + {self.b:.6g} / (step + 1)"


def _fit_line(xs: list[float], ys: list[float]) -> tuple[float, float, float] | None:
    n = len(xs)
    mx, my = sum(xs) / n, sum(ys) / n
    sxx = sum((x - mx) ** 2 for x in xs)
    if sxx == 0:
        return None
    b = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sxx
    a = my - b * mx
    return a, b, max(abs(a + b * x - y) for x, y in zip(xs, ys, strict=True))


def exact_formula(
    steps: list[int], values: list[float], min_constant: int = 5, min_formula: int = 8, rel_tol: float = 1e-5
) -> Formula | None:
    """The formula the points follow to within float32 rounding, or None for a series that fluctuates.

    rel_tol is ~100 float32 ulps: TensorBoard stores float32, so a formula computed in float64
    comes back rounded. The residual must also be tiny against the series' own range, so a real
    metric that barely moves around a large offset is not mistaken for a line.
    """
    n = len(values)
    if n < min_constant or not all(math.isfinite(v) for v in values):
        return None
    lo, hi = min(values), max(values)
    if hi == lo:
        return Formula("constant", values[0], 0.0, 0.0)
    if n < min_formula or len(set(values)) < min_formula // 2:
        return None
    tol = min(rel_tol * max(abs(lo), abs(hi)), 1e-3 * (hi - lo))
    xs = [float(s) for s in steps]
    if len(set(xs)) < len(xs):
        xs = [float(i) for i in range(n)]  # repeated steps: fall back to the point index
    candidates = [("linear", xs)]
    if min(xs) > -1:
        candidates.append(("reciprocal", [1.0 / (x + 1.0) for x in xs]))
    for kind, tx in candidates:
        fit = _fit_line(tx, values)
        if fit and fit[1] != 0 and fit[2] <= tol:
            return Formula(kind, fit[0], fit[1], fit[2])
    if lo > 0 or hi < 0:
        logs = [math.log(abs(v)) for v in values]
        fit = _fit_line(xs, logs)
        log_tol = min(2 * rel_tol, 1e-3 * (max(logs) - min(logs)))
        if fit and fit[1] != 0 and fit[2] <= log_tol:
            sign = 1.0 if values[0] > 0 else -1.0
            return Formula("geometric", sign * math.exp(fit[0]), math.exp(fit[1]), fit[2])
    return None
