"""Builders for log fixtures: real writers where installed, documented on-disk layouts otherwise."""

from __future__ import annotations

import json
import math
import random
import sqlite3
import struct
import zlib
from pathlib import Path

from trainaudit.context import AuditContext
from trainaudit.spec import Spec


def noisy_decreasing(n: int, seed: int = 0) -> list[float]:
    """A real-looking training loss: exponential decay plus noise that is large next to the step size."""
    rng = random.Random(seed)
    return [2.0 * math.exp(-i / (n / 4)) + 0.3 + rng.gauss(0, 0.15) for i in range(n)]


def noisy_flat(n: int, level: float = 0.693, seed: int = 1) -> list[float]:
    rng = random.Random(seed)
    return [level + rng.gauss(0, 0.02) for _ in range(n)]


def fluctuating_metric(n: int, seed: int = 2) -> list[float]:
    """Validation accuracy that improves but wobbles, as measured on a finite set."""
    rng = random.Random(seed)
    return [min(1.0, 0.5 + 0.4 * (1 - math.exp(-i / 5)) + rng.gauss(0, 0.02)) for i in range(n)]


def write_tb_scalars(logdir: Path, series: dict[str, list[float]], start_step: int = 0) -> Path:
    """Scalars through torch's SummaryWriter (simple_value); returns the event file."""
    from torch.utils.tensorboard import SummaryWriter

    w = SummaryWriter(str(logdir))
    n = max(len(v) for v in series.values())
    for i in range(n):
        for tag, values in series.items():
            if i < len(values):
                w.add_scalar(tag, values[i], start_step + i)
    w.close()
    return event_file(logdir)


def event_file(logdir: Path) -> Path:
    (path,) = sorted(logdir.glob("events.out.tfevents.*"))
    return path


def ctx_for(root: Path, spec: Spec | None = None) -> AuditContext:
    return AuditContext(root, spec or Spec())


def slugs_paths(findings) -> set[tuple[str, str]]:
    return {(f.rule, f.path) for f in findings}


# --- W&B: the documented LevelDB-log framing of run-<id>.wandb, written here because the wandb
# package (20 MB wheel plus a Go service process per run) is too heavy for a test dependency.
_BLOCK = 32768


def _varint(n: int) -> bytes:
    out = bytearray()
    n &= (1 << 64) - 1
    while True:
        b = n & 0x7F
        n >>= 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _ld(field: int, payload: bytes) -> bytes:
    return _varint(field << 3 | 2) + _varint(len(payload)) + payload


def wandb_history_record(items: dict[str, object], num: int, step: int) -> bytes:
    """A Record{num=1, history=2{item=1{key=1, value_json=16}, step=2{num=1}}}."""
    body = b"".join(_ld(1, _ld(1, k.encode()) + _ld(16, json.dumps(v).encode())) for k, v in items.items())
    body += _ld(2, _varint(1 << 3 | 0) + _varint(step))
    return _varint(1 << 3 | 0) + _varint(num) + _ld(2, body)


def wandb_other_record(num: int, text: str) -> bytes:
    """A non-history record (an OutputRecord, field 4) the reader must skip."""
    return _varint(1 << 3 | 0) + _varint(num) + _ld(4, _ld(3, text.encode()))


class WandbLog:
    """Writes records the way the W&B datastore frames them (FULL, or FIRST/MIDDLE/LAST across blocks)."""

    def __init__(self) -> None:
        self.buf = bytearray(b":W&B" + struct.pack("<HB", 0xBEE1, 0))

    def _chunk(self, data: bytes, kind: int) -> None:
        crc = zlib.crc32(data, zlib.crc32(bytes([kind])))
        self.buf += struct.pack("<IHB", crc, len(data), kind) + data

    def add(self, record: bytes) -> None:
        left = _BLOCK - len(self.buf) % _BLOCK
        if left < 7:
            self.buf += b"\x00" * left
            left = _BLOCK
        if len(record) + 7 <= left:
            self._chunk(record, 1)
            return
        room = left - 7
        self._chunk(record[:room], 2)
        rest = record[room:]
        while len(rest) > _BLOCK - 7:
            self._chunk(rest[:_BLOCK - 7], 3)
            rest = rest[_BLOCK - 7:]
        self._chunk(rest, 4)

    def save(self, path: Path) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(bytes(self.buf))
        return path


# --- MLflow: documented store layouts, written here because mlflow pulls ~40 packages (a web server,
# OpenTelemetry, a Databricks SDK) and its SQLite store additionally needs SQLAlchemy and Alembic.
def write_mlflow_file_store(root: Path, metrics: dict[str, list[float]], exp: str = "0",
                            run: str = "4f1c2d") -> Path:
    run_dir = root / "mlruns" / exp / run
    (run_dir / "metrics").mkdir(parents=True)
    (root / "mlruns" / exp / "meta.yaml").write_text(f"experiment_id: '{exp}'\nname: Default\n")
    (run_dir / "meta.yaml").write_text(f"run_id: {run}\nexperiment_id: '{exp}'\nstatus: 3\n")
    for key, values in metrics.items():
        path = run_dir / "metrics" / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("".join(f"{1700000000000 + 1000 * i} {v!r} {i}\n" for i, v in enumerate(values)))
    return run_dir


MLFLOW_METRICS_DDL = """
CREATE TABLE metrics (
    key VARCHAR(250) NOT NULL, value FLOAT NOT NULL, timestamp BIGINT NOT NULL,
    run_uuid VARCHAR(32) NOT NULL, step BIGINT DEFAULT '0' NOT NULL, is_nan BOOLEAN DEFAULT '0' NOT NULL,
    PRIMARY KEY (key, timestamp, step, run_uuid, value, is_nan)
)"""


def write_mlflow_sqlite(path: Path, rows: list[tuple[str, str, float, int]]) -> Path:
    """rows of (run_uuid, key, value, step), stored the way MLflow's SQLAlchemy store stores them."""
    con = sqlite3.connect(path)
    con.execute(MLFLOW_METRICS_DDL)
    con.execute("CREATE TABLE runs (run_uuid VARCHAR(32) PRIMARY KEY, name VARCHAR(250))")
    for i, (run, key, value, step) in enumerate(rows):
        is_nan = math.isnan(value)
        stored = 0.0 if is_nan else (1.7976931348623157e308 if value == math.inf else value)
        con.execute("INSERT INTO metrics VALUES (?, ?, ?, ?, ?, ?)",
                    (key, stored, 1700000000000 + i, run, step, is_nan))
    con.commit()
    con.close()
    return path
