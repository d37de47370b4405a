"""Downsampling of scalar series for reports: bounded size, spikes and NaN/Inf points kept visible."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from trainaudit.evidence.logs.series import LogEvidence, Series

REPORT_POINTS = 2000  # per series in the report: enough for any plot, small even for a 200,000-point log


def _bad(v: float | None) -> bool:
    return v is None or not math.isfinite(v)


def downsample(steps: Sequence[int], values: Sequence[float | None],
               limit: int = REPORT_POINTS) -> tuple[list[int], list[float | None]]:
    """At most `limit` points in file order: the first, the last and, per equal-count bucket in between,
    the minimum, the maximum and the first non-finite point. NaN/Inf come out as None."""
    if limit < 5:
        raise ValueError(f"limit must be at least 5, not {limit}")
    n = len(values)
    if n <= limit:
        keep: Sequence[int] = range(n)
    else:
        buckets = (limit - 2) // 3  # up to three points per bucket, plus the first and the last
        inner = n - 2
        picked = [0]
        for b in range(buckets):
            lo, hi = 1 + b * inner // buckets, 1 + (b + 1) * inner // buckets
            low = high = bad = None
            for i in range(lo, hi):
                v = values[i]
                if _bad(v):
                    if bad is None:
                        bad = i
                    continue
                if low is None or v < values[low]:
                    low = i
                if high is None or v > values[high]:
                    high = i
            picked.extend(sorted({i for i in (low, high, bad) if i is not None}))
        picked.append(n - 1)
        keep = picked
    return [int(steps[i]) for i in keep], [None if _bad(values[i]) else float(values[i]) for i in keep]


def series_entry(s: Series, limit: int = REPORT_POINTS) -> dict[str, Any]:
    """One series as the report carries it: JSON-serialisable, downsampled, non-finite points counted."""
    steps, values = downsample(s.steps, s.values, limit)
    first = s.first_non_finite()
    return {
        "tag": s.tag,
        "source": s.source,
        "run": s.run,
        "points": len(s),
        "non_finite": s.non_finite_count(),
        "first_non_finite_step": first[1] if first else None,
        "steps": steps,
        "values": values,
    }


def series_section(logs: LogEvidence, limit: int = REPORT_POINTS) -> dict[str, Any]:
    """The report's "series" section: every log file read and every scalar series in it."""
    return {
        "max_points": limit,
        "files": [
            {"path": f.path, "format": f.format, "records": f.records, "points": f.points,
             "series": len(f.series), "problems": len(f.problems)}
            for f in logs.files
        ],
        "series": [series_entry(s, limit) for s in logs.all_series()],
    }
