"""Lightning CSV, MLflow (file and SQLite), HF Trainer, W&B offline and plain metric files; and discovery."""

from __future__ import annotations

import json
import math

import pytest
from logfixtures import (
    WandbLog,
    wandb_history_record,
    wandb_other_record,
    write_mlflow_file_store,
    write_mlflow_sqlite,
    write_tb_scalars,
)

from trainaudit.evidence.files import discover
from trainaudit.evidence.logs.csvlogger import parse_flat_yaml, read_lightning_csv
from trainaudit.evidence.logs.discover import collect
from trainaudit.evidence.logs.hf_trainer import read_trainer_state
from trainaudit.evidence.logs.mlflow_store import read_mlflow_metric, read_mlflow_sqlite
from trainaudit.evidence.logs.wandb_offline import read_wandb, read_wandb_summary


def _series(log):
    return {s.name: (s.steps, s.values) for s in log.series}


def _collect(root):
    return collect(root, discover(root).other)


def test_lightning_csv_logger_sparse_columns_and_hparams(tmp_path):
    from lightning.pytorch.loggers import CSVLogger

    logger = CSVLogger(save_dir=str(tmp_path), name="lightning_logs")
    logger.log_hyperparams({"lr": 0.01, "batch_size": 32})
    for i in range(4):
        logger.log_metrics({"train_loss": 1.0 / (i + 1)}, step=i)
    logger.log_metrics({"val_acc": 0.5, "epoch": 0}, step=3)
    logger.save()
    logger.finalize("success")
    rel = "lightning_logs/version_0/metrics.csv"
    log = read_lightning_csv(tmp_path / rel, rel)
    assert _series(log) == {"train_loss": ([0, 1, 2, 3], [1.0, 0.5, 1 / 3, 0.25]), "val_acc": ([3], [0.5])}
    assert log.hparams == {"lr": 0.01, "batch_size": 32}
    assert [(f.path, f.format) for f in _collect(tmp_path).files] == [(rel, "lightning-csv")]


def test_flat_yaml_fallback_parser():
    text = "lr: 0.001\nname: 'resnet'\nlayers: 4\nuse_amp: true\nmissing: null\nnested:\n  a: 1\nratio: .nan\n"
    parsed = parse_flat_yaml(text)
    assert {k: v for k, v in parsed.items() if k != "ratio"} == {
        "lr": 0.001, "name": "resnet", "layers": 4, "use_amp": True, "missing": None, "nested": None}
    assert math.isnan(parsed["ratio"])


def test_mlflow_file_store(tmp_path):
    run = write_mlflow_file_store(tmp_path, {"train/loss": [1.0, 0.5, float("nan")], "val_acc": [0.7]})
    rel = (run / "metrics" / "train" / "loss").relative_to(tmp_path).as_posix()
    log = read_mlflow_metric(tmp_path / rel, rel)
    (s,) = log.series
    assert (s.tag, s.steps, s.values[:2]) == ("train/loss", [0, 1, 2], [1.0, 0.5]) and math.isnan(s.values[2])
    assert s.wall_times[0] == 1700000000.0
    found = {(f.path.split("/metrics/")[-1], f.format) for f in _collect(tmp_path).files}
    assert found == {("train/loss", "mlflow-file"), ("val_acc", "mlflow-file")}


def test_mlflow_sqlite_store_read_only(tmp_path):
    db = write_mlflow_sqlite(tmp_path / "mlflow.db", [
        ("r1", "loss", 1.0, 0), ("r1", "loss", 0.5, 1), ("r1", "val_acc", float("nan"), 1),
        ("r1", "val_acc", math.inf, 2), ("r2", "loss", 2.0, 0),
    ])
    before = db.read_bytes()
    log = read_mlflow_sqlite(db, "mlflow.db")
    got = {s.name: (s.steps, s.values) for s in log.series}
    assert got["loss [run r1]"] == ([0, 1], [1.0, 0.5])
    assert got["loss [run r2]"] == ([0], [2.0])
    assert math.isnan(got["val_acc [run r1]"][1][0]) and got["val_acc [run r1]"][1][1] == math.inf
    assert db.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mlflow.db"]  # no journal or WAL left behind


def test_sqlite_without_metrics_table_is_not_a_log(tmp_path):
    import sqlite3

    con = sqlite3.connect(tmp_path / "cache.db")
    con.execute("CREATE TABLE items (id INTEGER)")
    con.commit()
    con.close()
    assert read_mlflow_sqlite(tmp_path / "cache.db", "cache.db") is None
    assert _collect(tmp_path).files == []


def test_hf_trainer_state_with_bare_nan(tmp_path):
    state = {"global_step": 20, "log_history": [
        {"loss": 2.0, "learning_rate": 5e-5, "epoch": 0.5, "step": 10, "grad_norm": float("nan")},
        {"loss": 1.5, "learning_rate": 4e-5, "epoch": 1.0, "step": 20},
        {"eval_loss": 1.6, "eval_accuracy": 0.61, "epoch": 1.0, "step": 20},
    ]}
    path = tmp_path / "out" / "trainer_state.json"
    path.parent.mkdir()
    path.write_text(json.dumps(state, indent=2))  # json.dumps writes bare NaN, as the Trainer's save does
    assert "NaN" in path.read_text()
    log = read_trainer_state(path, "out/trainer_state.json")
    got = _series(log)
    assert got["loss"] == ([10, 20], [2.0, 1.5])
    assert got["eval_accuracy"] == ([20], [0.61])
    assert math.isnan(got["grad_norm"][1][0])
    assert "epoch" not in got and "step" not in got


def test_hf_trainer_state_written_by_transformers(tmp_path):
    trainer_callback = pytest.importorskip("transformers.trainer_callback")
    state = trainer_callback.TrainerState(global_step=30, log_history=[
        {"loss": 2.1, "learning_rate": 5e-5, "epoch": 0.33, "step": 10, "grad_norm": float("nan")},
        {"loss": 1.7, "learning_rate": 4e-5, "epoch": 0.67, "step": 20},
        {"loss": 1.2, "learning_rate": 3e-5, "epoch": 1.0, "step": 30},
        {"eval_loss": 1.3, "eval_accuracy": 0.64, "epoch": 1.0, "step": 30},
    ])
    path = tmp_path / "out" / "trainer_state.json"
    path.parent.mkdir()
    state.save_to_json(str(path))  # the Trainer's own writer: bare NaN included
    got = _series(read_trainer_state(path, "out/trainer_state.json"))
    assert got["loss"] == ([10, 20, 30], [2.1, 1.7, 1.2])
    assert got["eval_accuracy"] == ([30], [0.64])
    assert math.isnan(got["grad_norm"][1][0])


def test_trainer_state_copies_in_checkpoints_are_read_once(tmp_path):
    short = {"log_history": [{"loss": 2.0, "step": 10}]}
    full = {"log_history": [{"loss": 2.0, "step": 10}, {"loss": 1.0, "step": 20}]}
    for rel, state in (("out/checkpoint-10/trainer_state.json", short),
                       ("out/checkpoint-20/trainer_state.json", full)):
        (tmp_path / rel).parent.mkdir(parents=True)
        (tmp_path / rel).write_text(json.dumps(state))
    assert [f.path for f in _collect(tmp_path).files] == ["out/checkpoint-20/trainer_state.json"]


def test_wandb_run_file_history_and_multi_block_records(tmp_path):
    wl = WandbLog()
    wl.add(wandb_other_record(1, "console line"))
    for i in range(3):
        items = {"train/loss": 1.0 - 0.1 * i, "_step": i, "_timestamp": 1700000000.5 + i}
        wl.add(wandb_history_record(items, i + 2, i))
    wl.add(wandb_history_record({"big": 1.0, "note": "x" * 70000, "_step": 3}, 10, 3))  # spans three blocks
    wl.add(wandb_history_record({"train/loss": float("nan"), "_step": 4}, 11, 4))
    rel = "wandb/offline-run-1/run-abc.wandb"
    path = wl.save(tmp_path / rel)
    log = read_wandb(path, rel)
    assert log.problems == []
    got = _series(log)
    assert got["train/loss"][0] == [0, 1, 2, 4]
    assert got["train/loss"][1][:3] == [1.0, 0.9, 0.8] and math.isnan(got["train/loss"][1][3])
    assert got["big"] == ([3], [1.0])
    assert "note" not in got and "_step" not in got
    assert log.series[0].wall_times[:3] == [1700000000.5, 1700000001.5, 1700000002.5]


def test_wandb_truncated_and_corrupt_chunks_are_reported(tmp_path):
    wl = WandbLog()
    for i in range(3):
        wl.add(wandb_history_record({"loss": float(i), "_step": i}, i, i))
    data = bytearray(wl.buf)
    (tmp_path / "run-t.wandb").write_bytes(bytes(data[:-3]))
    log = read_wandb(tmp_path / "run-t.wandb", "run-t.wandb")
    assert _series(log) == {"loss": ([0, 1], [0.0, 1.0])}
    assert [p.kind for p in log.problems] == ["truncated"]
    data[7 + 7 + 2] ^= 0xFF  # inside the first record's data: its CRC no longer matches
    (tmp_path / "run-c.wandb").write_bytes(bytes(data))
    log = read_wandb(tmp_path / "run-c.wandb", "run-c.wandb")
    assert [p.kind for p in log.problems] == ["corrupt-record"]
    (tmp_path / "run-x.wandb").write_bytes(b"not a wandb file")
    assert [p.kind for p in read_wandb(tmp_path / "run-x.wandb", "x").problems] == ["unrecognised"]


def test_wandb_summary(tmp_path):
    path = tmp_path / "files" / "wandb-summary.json"
    path.parent.mkdir()
    path.write_text('{"loss": 0.25, "val/acc": NaN, "_step": 99, "_runtime": 12.0, "name": "x"}')
    log = read_wandb_summary(path, "files/wandb-summary.json")
    assert _series(log)["loss"] == ([99], [0.25])
    assert math.isnan(_series(log)["val/acc"][1][0])
    assert set(_series(log)) == {"loss", "val/acc"}


def test_plain_metric_files_are_read_and_other_files_are_not(tmp_path):
    files = {
        "results/metrics.json": json.dumps({"loss": [1.0, 0.8, 0.6], "val_accuracy": [0.5, 0.6, 0.7]}),
        "history.jsonl": "\n".join(json.dumps({"epoch": i, "train_loss": 1.0 / (i + 1), "val_f1": 0.1 * i})
                                   for i in range(3)) + '\n{"epoch": 3, "train_lo',
        "results.csv": "epoch, train/box_loss, metrics/precision\n0, 0.9, 0.1\n1, 0.8, 0.3\n",
        "final_scores.json": json.dumps({"test_accuracy": 0.91, "test_f1": 0.88}),
        "config.json": json.dumps({"loss": "cross_entropy", "lr": 0.1}),
        "data/train.csv": "x1,x2,label\n0.1,0.2,1\n",
        "eval_log.csv": "image,label,prediction\na.png,cat,dog\n",
        "settings_log.json": json.dumps({"loss": "mse", "optimizer": "adam"}),
    }
    for rel, text in files.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(text)
    ev = _collect(tmp_path)
    got = {f.path: _series(f) for f in ev.files}
    assert set(got) == {"results/metrics.json", "history.jsonl", "results.csv", "final_scores.json"}
    assert got["results/metrics.json"]["val_accuracy"] == ([0, 1, 2], [0.5, 0.6, 0.7])
    assert got["history.jsonl"]["val_f1"] == ([0, 1, 2], [0.0, 0.1, 0.2])
    assert [p.kind for p in ev.file("history.jsonl").problems] == ["truncated"]
    assert got["results.csv"]["train/box_loss"] == ([0, 1], [0.9, 0.8])
    assert got["final_scores.json"] == {"test_accuracy": ([0], [0.91]), "test_f1": ([0], [0.88])}


def test_spec_globs_choose_the_files(tmp_path):
    write_tb_scalars(tmp_path / "runs" / "a", {"loss": [1.0, 0.5]})
    write_tb_scalars(tmp_path / "old" / "b", {"loss": [3.0]})
    (tmp_path / "notes.txt").write_text("hello")
    ev = collect(tmp_path, discover(tmp_path).other, ("runs/**", "nothing/*.csv", "notes.txt"))
    assert ev.from_spec and ev.unmatched_globs == ["nothing/*.csv"]
    assert [(f.path.split("/")[0], f.format) for f in ev.files] == [("notes.txt", "unknown"), ("runs", "tfevents")]
    assert [p.kind for p in ev.file("notes.txt").problems] == ["unrecognised"]


def test_every_reader_reports_an_unreadable_path_as_one_problem(tmp_path):
    from trainaudit.evidence.logs.tfevents import read_tfevents

    folder = tmp_path / "a_folder"  # reading a directory fails with an OSError on every platform
    folder.mkdir()
    readers = [read_tfevents, read_wandb, read_wandb_summary, read_trainer_state, read_mlflow_metric,
               read_lightning_csv]
    for reader in readers:
        log = reader(folder, "x")
        problems = [(p.kind, p.message.startswith("cannot read: ")) for p in log.problems]
        assert problems == [("unreadable", True)], reader
        assert (log.series, log.records) == ([], 0)
