"""JSON rendering of a Report (schema documented in docs/report-schema.md)."""

from __future__ import annotations

import json
import math
from typing import Any

from trainaudit.report.model import Report


def _clean(value: Any) -> Any:
    """JSON has no NaN or Infinity: write them as strings so the file stays standard JSON."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    return value


def render_json(report: Report) -> str:
    return json.dumps(_clean(report.to_dict()), indent=2, default=str, allow_nan=False) + "\n"
