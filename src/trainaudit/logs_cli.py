"""`trainaudit logs PATH`: what every training log under PATH holds, series by series, as text or JSON."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from trainaudit.evidence.logs.discover import classify, collect, read_log, unrecognised
from trainaudit.evidence.logs.series import LogEvidence, Series


def inspect(path: str | Path) -> LogEvidence:
    """The logs of a project directory (spec globs, else discovery), or of one log file."""
    target = Path(path)
    if target.is_file():
        rel = target.name
        fmt = classify(target.parent, rel)
        log = read_log(target.parent, rel, fmt) if fmt else None
        return LogEvidence(files=[log if log is not None else unrecognised(rel)])
    from trainaudit.evidence.files import discover
    from trainaudit.spec import SpecError, load_spec

    try:
        globs = tuple(load_spec(target).logs)
    except SpecError:
        globs = ()  # a broken spec is the audit's business; inspection still shows what is there
    return collect(target, discover(target).other, globs)


def series_summary(s: Series) -> dict[str, Any]:
    from trainaudit.evidence.logs.stats import trend

    good = [v for v in s.values if math.isfinite(v)]
    t = trend(s.values)
    return {
        "tag": s.tag,
        "run": s.run,
        "points": len(s),
        "first_step": s.steps[0] if s.steps else None,
        "last_step": s.steps[-1] if s.steps else None,
        "first": _num(s.values[0]) if s.values else None,
        "last": _num(s.values[-1]) if s.values else None,
        "min": min(good) if good else None,
        "max": max(good) if good else None,
        "non_finite": len(s) - len(good),
        "trend": t.direction,
        "mann_kendall_z": round(t.z, 3),
    }


def _num(v: float) -> float | str:
    return v if math.isfinite(v) else str(v)  # JSON has no NaN/Infinity


def as_dict(path: str | Path, evidence: LogEvidence) -> dict[str, Any]:
    return {
        "path": str(path),
        "from_spec": evidence.from_spec,
        "unmatched_globs": evidence.unmatched_globs,
        "files": [
            {
                "path": f.path,
                "format": f.format,
                "records": f.records,
                "points": f.points,
                "problems": [{"kind": p.kind, "message": p.message, "offset": p.offset} for p in f.problems],
                "series": [series_summary(s) for s in f.series],
            }
            for f in evidence.files
        ],
    }


def _cell(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.6g}"
    return str(v)


def _text(data: dict[str, Any]) -> str:
    lines: list[str] = []
    if not data["files"]:
        lines.append(f"no training logs found under {data['path']}")
    for g in data["unmatched_globs"]:
        lines.append(f"spec logs glob matched nothing: {g}")
    columns = ("tag", "points", "first", "last", "min", "max", "non_finite", "trend")
    for f in data["files"]:
        lines.append(f"{f['path']}  [{f['format']}]  {f['records']} records, {f['points']} points")
        for p in f["problems"]:
            at = f" @{p['offset']}" if p["offset"] is not None else ""
            lines.append(f"  ! {p['kind']}{at}: {p['message']}")
        if not f["series"]:
            continue
        rows = [[s["tag"] + (f" [run {s['run']}]" if s["run"] else "")]
                + [_cell(s[c]) for c in columns[1:]] for s in f["series"]]
        header = ["tag", "points", "first", "last", "min", "max", "NaN/Inf", "trend"]
        widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
        for r in [header, *rows]:
            lines.append("  " + "  ".join(c.ljust(w) if i == 0 else c.rjust(w)
                                          for i, (c, w) in enumerate(zip(r, widths, strict=True))).rstrip())
    return "\n".join(lines) + "\n"


def render_logs(path: str | Path, fmt: str = "text") -> str:
    """Render the inspection of PATH as 'text' or 'json'."""
    data = as_dict(path, inspect(path))
    if fmt == "json":
        return json.dumps(data, indent=2) + "\n"
    if fmt != "text":
        raise ValueError(f"unknown format {fmt!r} (use text or json)")
    return _text(data)
