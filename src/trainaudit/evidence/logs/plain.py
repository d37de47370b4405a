"""Metric files a project writes itself (`metrics.json`, `history.jsonl`, `results.csv`), read only when
clearly metric-shaped: a metric-like file name AND numeric values under loss/metric-like keys."""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path

from trainaudit.evidence.logs import names
from trainaudit.evidence.logs.series import LogFile, Problem, Series
from trainaudit.evidence.logs.textutil import number, step_of, text_or_problem

JSON_FORMAT, JSONL_FORMAT, CSV_FORMAT = "json-metrics", "jsonl-metrics", "csv-metrics"
_NAME_HINT = re.compile(r"(metric|history|result|score|eval|progress|log|stats|curve)", re.I)
_NOT_LOGS = frozenset({
    "package.json", "package-lock.json", "tsconfig.json", "config.json", "tokenizer.json",
    "tokenizer_config.json", "special_tokens_map.json", "wandb-metadata.json", "requirements.txt",
})
_STEP_KEYS = ("step", "global_step", "iteration", "iter", "epoch", "_step")
MAX_PLAIN_BYTES = 64 * 1024 * 1024


def candidate(rel: str) -> str | None:
    """The plain format a file name suggests (before its content is checked), else None."""
    name = rel.rsplit("/", 1)[-1]
    if name in _NOT_LOGS or not _NAME_HINT.search(name):
        return None
    if name.endswith(".json"):
        return JSON_FORMAT
    if name.endswith((".jsonl", ".ndjson")):
        return JSONL_FORMAT
    if name.endswith((".csv", ".tsv")):
        return CSV_FORMAT
    return None


def read_plain(path: Path, rel: str, fmt: str) -> LogFile | None:
    """The file's series, or None when its content is not metric-shaped (so it is not a log at all)."""
    try:
        if path.stat().st_size > MAX_PLAIN_BYTES:
            return None
    except OSError:
        return None
    out = LogFile(rel, fmt)
    text = text_or_problem(path, out)
    if text is None:
        return out
    reader = {JSON_FORMAT: _json, JSONL_FORMAT: _jsonl, CSV_FORMAT: _csv}[fmt]
    return reader(text, out)


def _metric_keys(keys) -> list[str]:
    return [k for k in keys if isinstance(k, str) and names.is_quality(k)]


def _from_records(records: list[dict], out: LogFile) -> LogFile | None:
    """Rows of {key: number}: one series per loss/metric key, stepped by a step-like key or the row index."""
    keys: dict[str, None] = {}
    for r in records:
        keys.update(dict.fromkeys(r))
    metric_keys = _metric_keys(keys)
    if not metric_keys:
        return None
    series = {k: Series(k, out.path) for k in metric_keys}
    for i, row in enumerate(records):
        out.records += 1
        step_key = next((k for k in _STEP_KEYS if k in row), None)
        step = step_of(row[step_key], i) if step_key else i
        for k in metric_keys:
            value = number(row.get(k))
            if value is not None:
                series[k].add(step, value)
    if not any(len(s) for s in series.values()) and records:
        return None  # metric-named keys holding no numbers: not a metric log
    out.series = list(series.values())
    return out


def _json(text: str, out: LogFile) -> LogFile | None:
    try:
        doc = json.loads(text)
    except json.JSONDecodeError:
        return None
    if isinstance(doc, dict):
        for nested in ("log_history", "history", "metrics", "logs"):
            if isinstance(doc.get(nested), (list, dict)):
                inner = _json_shape(doc[nested], out)
                if inner is not None:
                    return inner
    return _json_shape(doc, out)


def _json_shape(doc: object, out: LogFile) -> LogFile | None:
    if isinstance(doc, list) and doc and all(isinstance(r, dict) for r in doc):
        return _from_records(doc, out)
    if not isinstance(doc, dict):
        return None
    keys = _metric_keys(doc)
    lists = {k: doc[k] for k in keys if isinstance(doc[k], list)}
    if lists:  # {"loss": [..], "val_acc": [..]} as Keras History.history writes
        for k, values in lists.items():
            s = Series(k, out.path)
            for i, v in enumerate(values):
                num = number(v)
                if num is not None:
                    s.add(i, num)
            out.series.append(s)
        out.records = max(len(v) for v in lists.values())
        return out if any(len(s) for s in out.series) or not out.records else None
    scalars = {k: number(doc[k]) for k in keys}
    if scalars and all(v is not None for v in scalars.values()):  # final metrics: one point each
        out.records = 1
        out.series = [Series(k, out.path, [0], [v]) for k, v in scalars.items() if v is not None]
        return out
    return None


def _jsonl(text: str, out: LogFile) -> LogFile | None:
    records: list[dict] = []
    bad: list[int] = []
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            bad.append(lineno)
            continue
        if isinstance(row, dict):
            records.append(row)
    if not records:
        return None
    result = _from_records(records, out)
    if result is not None:
        last = text.rstrip("\n").count("\n") + 1
        for lineno in bad:
            kind = "truncated" if lineno == last else "corrupt-record"
            result.problems.append(Problem(kind, "line is not valid JSON", lineno))
    return result


def _csv(text: str, out: LogFile) -> LogFile | None:
    sample = text[:4096]
    delimiter = "\t" if sample.count("\t") > sample.count(",") else ","
    rows = list(csv.reader(io.StringIO(text), delimiter=delimiter))
    if not rows:
        return None
    header = [h.strip() for h in rows[0]]
    if not _metric_keys(header):
        return None
    records = [dict(zip(header, (c.strip() for c in row), strict=False)) for row in rows[1:] if row]
    if records and not any(number(r.get(k)) is not None for r in records for k in _metric_keys(header)):
        return None
    result = _from_records(records, out)
    if result is None and not records:  # a metric header with no rows: a log that stayed empty
        out.series = [Series(k, out.path) for k in _metric_keys(header)]
        return out
    return result
