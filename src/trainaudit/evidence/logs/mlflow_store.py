"""MLflow runs: the file store (`mlruns/<exp>/<run>/metrics/<key>`) and the SQLite store (`metrics` table)."""

from __future__ import annotations

import math
import sqlite3
import sys
from pathlib import Path
from urllib.parse import quote

from trainaudit.evidence.logs.series import LogFile, Problem, Series
from trainaudit.evidence.logs.textutil import number, step_of, text_or_problem

FILE_FORMAT = "mlflow-file"
SQLITE_FORMAT = "mlflow-sqlite"
SQLITE_MAGIC = b"SQLite format 3\x00"
_METRIC_COLUMNS = {"key", "value", "timestamp", "step", "run_uuid"}


def metric_key(rel: str) -> str | None:
    """The metric key of a file-store metric file `<run>/metrics/<key...>`, else None."""
    parts = rel.split("/")
    if "metrics" not in parts[:-1]:
        return None
    i = len(parts) - 1 - parts[::-1].index("metrics")
    return "/".join(parts[i + 1:]) or None


def run_dir_of(rel: str) -> str:
    parts = rel.split("/")
    i = len(parts) - 1 - parts[::-1].index("metrics")
    return "/".join(parts[:i])


def read_mlflow_metric(path: Path, rel: str) -> LogFile:
    """One metric file: lines `timestamp_ms value step` (step absent in very old stores)."""
    out = LogFile(rel, FILE_FORMAT)
    key = metric_key(rel) or path.name
    series = Series(key, rel)  # one file is one run; the run id is in the path already
    text = text_or_problem(path, out)
    if text is None:
        return out
    for lineno, line in enumerate(text.splitlines(), start=1):
        cells = line.split()
        if not cells:
            continue
        out.records += 1
        if len(cells) not in (2, 3):
            out.problems.append(Problem("corrupt-record", f"expected 'timestamp value step', got {line!r}", lineno))
            continue
        ts, value = number(cells[0]), number(cells[1])
        if ts is None or value is None:
            out.problems.append(Problem("corrupt-record", f"not numbers: {line!r}", lineno))
            continue
        step = step_of(cells[2], lineno - 1) if len(cells) == 3 else lineno - 1
        series.add(step, value, ts / 1000.0)
    out.series = [series]
    return out


def is_sqlite(path: Path) -> bool:
    try:
        with path.open("rb") as fh:
            return fh.read(16) == SQLITE_MAGIC
    except OSError:
        return False


def read_mlflow_sqlite(path: Path, rel: str) -> LogFile | None:
    """All metrics of an MLflow SQLite store, opened read-only; None if it is not an MLflow store."""
    out = LogFile(rel, SQLITE_FORMAT)
    try:
        con = _connect(path)
    except sqlite3.Error as exc:
        out.problems.append(Problem("unreadable", f"cannot open SQLite database: {exc}"))
        return out
    try:
        cols = {row[1] for row in con.execute("PRAGMA table_info(metrics)")}
        if not _METRIC_COLUMNS <= cols:
            return None
        nan_col = "is_nan" if "is_nan" in cols else "0"
        rows = con.execute(
            f"SELECT run_uuid, key, value, step, timestamp, {nan_col} FROM metrics "  # noqa: S608 (fixed names)
            "ORDER BY run_uuid, key, step, timestamp"
        )
        series: dict[tuple[str, str], Series] = {}
        for run, key, value, step, ts, is_nan in rows:
            out.records += 1
            s = series.get((run, key))
            if s is None:
                s = series[(run, key)] = Series(str(key), rel, run=str(run))
            s.add(int(step or 0), _stored_value(value, is_nan), (ts or 0) / 1000.0)
        out.series = list(series.values())
        _single_run_unqualified(out.series)
    except sqlite3.Error as exc:
        out.problems.append(Problem("unreadable", f"cannot query the metrics table: {exc}"))
    finally:
        con.close()
    return out


def _connect(path: Path) -> sqlite3.Connection:
    """Read-only URI mode, so auditing never writes to (or creates a journal beside) the store."""
    uri = f"file:{quote(str(path.resolve()))}?mode=ro"
    try:
        con = sqlite3.connect(uri, uri=True)
        con.execute("SELECT 1 FROM sqlite_master LIMIT 1")
        return con
    except sqlite3.OperationalError:
        # A WAL database in a read-only directory needs immutable mode to be read at all.
        return sqlite3.connect(uri + "&immutable=1", uri=True)


def _stored_value(value: object, is_nan: object) -> float:
    """MLflow stores NaN as is_nan=1 and +-inf as +-DBL_MAX; undo both."""
    if is_nan:
        return math.nan
    num = number(value)
    if num is None:
        return math.nan
    if num == sys.float_info.max:
        return math.inf
    if num == -sys.float_info.max:
        return -math.inf
    return num


def _single_run_unqualified(series: list[Series]) -> None:
    if len({s.run for s in series}) == 1:
        for s in series:
            s.run = None
