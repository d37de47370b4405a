"""Readers against the real MLflow and W&B writers, where those (heavy, optional) packages are installed.

They are not test dependencies (mlflow pulls ~40 packages, wandb a 20 MB wheel and a service
process); the documented layouts are covered in test_logs_formats.py either way.
"""

from __future__ import annotations

import math

import pytest

from trainaudit.evidence.files import discover
from trainaudit.evidence.logs.discover import collect


def _series(ev):
    return {(f.format, s.tag): (s.steps, s.values) for f in ev.files for s in f.series}


def test_real_mlflow_sqlite_store(tmp_path):
    mlflow = pytest.importorskip("mlflow")
    pytest.importorskip("sqlalchemy")
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlflow.db'}")
    with mlflow.start_run():
        for i in range(3):
            mlflow.log_metric("train/loss", 1.0 / (i + 1), step=i)
        mlflow.log_metric("val_acc", float("nan"), step=3)
        mlflow.log_metric("val_acc", float("inf"), step=4)
    got = _series(collect(tmp_path, discover(tmp_path).other))
    assert got[("mlflow-sqlite", "train/loss")] == ([0, 1, 2], [1.0, 0.5, 1 / 3])
    steps, values = got[("mlflow-sqlite", "val_acc")]
    assert steps == [3, 4] and math.isnan(values[0]) and values[1] == math.inf


def test_real_wandb_offline_run(tmp_path, monkeypatch):
    wandb = pytest.importorskip("wandb")
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    run = wandb.init(project="p", dir=str(tmp_path))
    for i in range(3):
        run.log({"train/loss": 1.0 / (i + 1)})
    run.log({"train/loss": float("nan")})
    run.finish()
    wandb.teardown()  # wait for wandb's service process to flush and exit: finish() alone may return first
    got = _series(collect(tmp_path, discover(tmp_path).other))
    steps, values = got[("wandb", "train/loss")]
    assert steps == [0, 1, 2, 3] and values[:3] == [1.0, 0.5, 1 / 3] and math.isnan(values[3])
