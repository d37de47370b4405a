"""`render_logs`: per-series inspection as text and JSON."""

from __future__ import annotations

import json

from logfixtures import noisy_decreasing, write_tb_scalars

from trainaudit.logs_cli import render_logs


def _project(root):
    loss = noisy_decreasing(50)
    loss[10] = float("nan")
    write_tb_scalars(root / "runs", {"train/loss": loss, "val/acc": [0.5, 0.6]})
    (root / "results.csv").write_text("epoch,val_f1\n")


def test_json_lists_every_series_with_its_numbers(tmp_path):
    _project(tmp_path)
    data = json.loads(render_logs(tmp_path, "json"))
    files = {f["format"]: f for f in data["files"]}
    assert set(files) == {"tfevents", "csv-metrics"}
    series = {s["tag"]: s for s in files["tfevents"]["series"]}
    loss = series["train/loss"]
    assert (loss["points"], loss["non_finite"], loss["first_step"], loss["last_step"], loss["trend"]) == (
        50, 1, 0, 49, "decreasing")
    assert series["val/acc"]["first"] == 0.5 and series["val/acc"]["max"] == 0.6000000238418579
    assert files["csv-metrics"]["series"][0]["points"] == 0


def test_text_names_files_and_tags(tmp_path):
    _project(tmp_path)
    text = render_logs(tmp_path)
    assert "[tfevents]" in text and "train/loss" in text and "decreasing" in text and "results.csv" in text


def test_single_file_and_nothing_found(tmp_path):
    write_tb_scalars(tmp_path / "runs", {"loss": [1.0, 0.5]})
    (event,) = (tmp_path / "runs").glob("events.out.tfevents.*")
    data = json.loads(render_logs(event, "json"))
    assert [s["tag"] for s in data["files"][0]["series"]] == ["loss"]
    (tmp_path / "empty").mkdir()
    assert "no training logs found" in render_logs(tmp_path / "empty")
