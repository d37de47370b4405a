"""Lightning CSVLogger runs: `version_N/metrics.csv` with sparse columns, plus `hparams.yaml`."""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path
from typing import Any

from trainaudit.evidence.logs.series import LogFile, Problem, Series
from trainaudit.evidence.logs.textutil import number, step_of, text_or_problem

FORMAT = "lightning-csv"
_INDEX_COLUMNS = ("step", "epoch")
_YAML_SPECIAL = {".nan": math.nan, ".inf": math.inf, "+.inf": math.inf, "-.inf": -math.inf}


def is_lightning_csv(rel: str, head: str) -> bool:
    """metrics.csv whose header has a step column (Lightning always writes one)."""
    if not rel.endswith("metrics.csv"):
        return False
    first = head.splitlines()[0] if head else ""
    return "step" in [c.strip() for c in first.split(",")]


def read_lightning_csv(path: Path, rel: str) -> LogFile:
    out = LogFile(rel, FORMAT)
    text = text_or_problem(path, out)
    if text is None:
        return out
    rows = csv.reader(io.StringIO(text))
    header = next(rows, None)
    if not header:
        return out
    header = [h.strip() for h in header]
    step_col = header.index("step") if "step" in header else None
    series = {name: Series(name, rel) for name in header if name not in _INDEX_COLUMNS}
    for lineno, row in enumerate(rows, start=2):
        if not row:
            continue
        out.records += 1
        if len(row) != len(header):
            out.problems.append(Problem("corrupt-record", f"{len(row)} cells, header has {len(header)}", lineno))
            continue
        step = step_of(row[step_col], lineno - 2) if step_col is not None else lineno - 2
        for name, cell in zip(header, row, strict=True):
            s = series.get(name)
            if s is not None and cell.strip():  # empty cells are the sparse columns' gaps
                value = number(cell)
                if value is None:
                    out.problems.append(Problem("corrupt-record", f"column {name!r}: not a number {cell!r}", lineno))
                else:
                    s.add(step, value)
    out.series = list(series.values())
    out.hparams = _hparams(path.parent / "hparams.yaml", out)
    return out


def _hparams(path: Path, out: LogFile) -> dict[str, Any] | None:
    if not path.is_file():
        return None
    text = text_or_problem(path, out, "hparams.yaml: ")
    if text is None:
        return None
    try:
        import yaml  # optional: PyYAML parses every form; the fallback handles flat `key: value` lines
    except ImportError:
        return parse_flat_yaml(text)
    try:
        loaded = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        out.problems.append(Problem("unreadable", f"hparams.yaml: not valid YAML: {exc}"))
        return None
    return loaded if isinstance(loaded, dict) else None


def parse_flat_yaml(text: str) -> dict[str, Any]:
    """Top-level `key: value` pairs of a YAML mapping; nested blocks keep their first line only."""
    out: dict[str, Any] = {}
    for line in text.splitlines():
        if not line.strip() or line.startswith((" ", "\t", "#", "-")) or ":" not in line:
            continue
        key, _, raw = line.partition(":")
        raw = raw.split(" #", 1)[0].strip()
        out[key.strip()] = _scalar(raw)
    return out


def _scalar(raw: str) -> Any:
    if raw == "" or raw in ("null", "~"):
        return None
    if raw in ("true", "True"):
        return True
    if raw in ("false", "False"):
        return False
    if len(raw) >= 2 and raw[0] == raw[-1] and raw[0] in "'\"":
        return raw[1:-1]
    if raw.lower() in _YAML_SPECIAL:
        return _YAML_SPECIAL[raw.lower()]
    try:
        return int(raw)
    except ValueError:
        pass
    try:
        return float(raw)
    except ValueError:
        return raw
