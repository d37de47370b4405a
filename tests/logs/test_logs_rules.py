"""Each log rule fires on the bad case and stays silent on the close legitimate one."""

from __future__ import annotations

import json

from logfixtures import (
    ctx_for,
    fluctuating_metric,
    noisy_decreasing,
    noisy_flat,
    write_mlflow_file_store,
    write_tb_scalars,
)

from trainaudit.rules.engine_rules import PARSE_ERROR
from trainaudit.rules.logs import EMPTY_LOGS, LOSS_NOT_DECREASING, NAN_VALUES
from trainaudit.rules.metrics import HARDCODED_METRICS, MISSING_METRICS
from trainaudit.spec import Spec

_RULES = (EMPTY_LOGS, NAN_VALUES, LOSS_NOT_DECREASING, MISSING_METRICS, HARDCODED_METRICS, PARSE_ERROR)


def log_findings(root, spec=None):
    """Every finding the log checks make on a project (static checks of shared rules are left out)."""
    ctx = ctx_for(root, spec)
    return [f for rule in _RULES for check in rule.checks for f in check(ctx) if f.source == "logs"]


def found(root, spec=None, slugs=None):
    return {(f.rule, f.path) for f in log_findings(root, spec) if slugs is None or f.rule in slugs}


def _tb_rel(root, logdir):
    (path,) = (root / logdir).glob("events.out.tfevents.*")
    return path.relative_to(root).as_posix()


def _healthy(root, logdir="runs/ok", n=120):
    write_tb_scalars(root / logdir, {"train/loss": noisy_decreasing(n), "val/accuracy": fluctuating_metric(n)})
    return _tb_rel(root, logdir)


def test_provider_collects_through_the_context(tmp_path):
    rel = _healthy(tmp_path)
    logs = ctx_for(tmp_path).get("logs")
    assert [f.path for f in logs.files] == [rel]
    assert {s.tag for s in logs.all_series()} == {"train/loss", "val/accuracy"}


def test_healthy_run_is_silent(tmp_path):
    _healthy(tmp_path)
    assert found(tmp_path) == set()


# --- empty-logs -----------------------------------------------------------------------------------------
def test_event_file_without_scalars_is_empty(tmp_path):
    from torch.utils.tensorboard import SummaryWriter

    w = SummaryWriter(str(tmp_path / "local_logs"))
    w.add_text("note", "started")
    w.close()
    rel = _tb_rel(tmp_path, "local_logs")
    assert found(tmp_path, slugs={"empty-logs"}) == {("empty-logs", rel)}
    (finding,) = [f for f in log_findings(tmp_path) if f.rule == "empty-logs"]
    assert finding.evidence["points"] == 0 and finding.evidence["records"] == 2


def test_required_metric_declared_without_points(tmp_path):
    (tmp_path / "results.csv").write_text("epoch,train_loss,val_dice\n0,0.9,\n1,0.7,\n2,0.6,\n")
    # the dice column stays empty, so the training loss is also all that was measured
    assert found(tmp_path, Spec(metrics=("dice",)), {"empty-logs", "missing-metrics"}) == {
        ("empty-logs", "results.csv"), ("missing-metrics", "results.csv")}
    (tmp_path / "results.csv").write_text("epoch,train_loss,val_dice\n0,0.9,0.2\n1,0.7,0.4\n2,0.6,0.5\n")
    assert found(tmp_path, Spec(metrics=("dice",)), {"empty-logs", "missing-metrics"}) == set()


_TRAIN_PY = """\
from torch.utils.tensorboard import SummaryWriter

writer = SummaryWriter("local_logs")
for step in range(10):
    writer.add_scalar("loss", 1.0 / (step + 1), step)
"""


def test_logging_code_without_log_files_is_a_warning(tmp_path):
    (tmp_path / "train.py").write_text(_TRAIN_PY)
    (finding,) = log_findings(tmp_path)
    assert (finding.rule, finding.path, finding.line, finding.severity.value) == (
        "empty-logs", "train.py", 3, "warning")


def test_logging_code_with_log_files_is_silent(tmp_path):
    (tmp_path / "train.py").write_text(_TRAIN_PY)
    _healthy(tmp_path, "local_logs")
    assert found(tmp_path, slugs={"empty-logs"}) == set()


# --- nan-values -----------------------------------------------------------------------------------------
def test_nan_in_loss_names_tag_and_first_step(tmp_path):
    values = noisy_decreasing(60)
    values[37] = float("nan")
    values[50] = float("inf")
    write_tb_scalars(tmp_path / "runs", {"train/loss": values, "val/accuracy": fluctuating_metric(60)})
    rel = _tb_rel(tmp_path, "runs")
    assert found(tmp_path, slugs={"nan-values"}) == {("nan-values", rel)}
    (f,) = [f for f in log_findings(tmp_path) if f.rule == "nan-values"]
    assert (f.evidence["tag"], f.evidence["first_step"], f.evidence["non_finite"]) == ("train/loss", 37, 2)
    assert f.severity.value == "error"


def test_nan_in_bookkeeping_is_only_a_warning(tmp_path):
    state = {"log_history": [{"loss": 2.0 - 0.1 * i, "grad_norm": float("nan") if i == 2 else 1.0, "step": i}
                             for i in range(5)]}
    (tmp_path / "trainer_state.json").write_text(json.dumps(state))
    (f,) = [f for f in log_findings(tmp_path) if f.rule == "nan-values"]
    assert (f.path, f.evidence["tag"], f.severity.value) == ("trainer_state.json", "grad_norm", "warning")


# --- loss-not-decreasing ----------------------------------------------------------------------------------
def test_flat_loss_fires(tmp_path):
    write_tb_scalars(tmp_path / "runs", {"train/loss": noisy_flat(200), "val/accuracy": fluctuating_metric(200)})
    rel = _tb_rel(tmp_path, "runs")
    assert found(tmp_path, slugs={"loss-not-decreasing"}) == {("loss-not-decreasing", rel)}
    (f,) = [f for f in log_findings(tmp_path) if f.rule == "loss-not-decreasing"]
    assert f.evidence["direction"] == "flat" and f.evidence["points"] == 200


def test_rising_loss_fires(tmp_path):
    rising = [v + 0.004 * i for i, v in enumerate(noisy_flat(150))]
    run = write_mlflow_file_store(tmp_path, {"loss": rising, "val_acc": fluctuating_metric(150)})
    rel = (run / "metrics" / "loss").relative_to(tmp_path).as_posix()
    (f,) = [f for f in log_findings(tmp_path) if f.rule == "loss-not-decreasing"]
    assert (f.path, f.evidence["direction"]) == (rel, "increasing")


def test_noisy_decreasing_and_quick_drop_losses_are_silent(tmp_path):
    quick = [2.3] * 5 + noisy_flat(300, level=0.4)  # learns in a few steps, then plateaus with noise
    write_tb_scalars(tmp_path / "a", {"train/loss": noisy_decreasing(300), "val/acc": fluctuating_metric(30)})
    write_tb_scalars(tmp_path / "b", {"train/loss": quick, "val/acc": fluctuating_metric(30)})
    assert found(tmp_path, slugs={"loss-not-decreasing"}) == set()


def test_validation_loss_and_short_runs_are_not_judged(tmp_path):
    write_tb_scalars(tmp_path / "runs", {"val/loss": noisy_flat(100), "train/loss": [0.7, 0.71, 0.69],
                                         "val/acc": fluctuating_metric(100)})
    assert found(tmp_path, slugs={"loss-not-decreasing"}) == set()


# --- missing-metrics ----------------------------------------------------------------------------------------
def test_only_training_loss_logged(tmp_path):
    write_tb_scalars(tmp_path / "runs", {"train/loss": noisy_decreasing(50), "lr": [0.1] * 50})
    rel = _tb_rel(tmp_path, "runs")
    assert found(tmp_path, slugs={"missing-metrics"}) == {("missing-metrics", rel)}


def test_required_metric_absent_from_every_log(tmp_path):
    write_tb_scalars(tmp_path / "runs" / "a", {"train/loss": noisy_decreasing(50), "val/acc": fluctuating_metric(50)})
    write_tb_scalars(tmp_path / "runs" / "b", {"train/loss": noisy_decreasing(50), "val/acc": fluctuating_metric(50)})
    findings = [f for f in log_findings(tmp_path, Spec(metrics=("dice", "accuracy"))) if f.rule == "missing-metrics"]
    assert [(f.path, f.evidence["metric"]) for f in findings] == [("runs", "dice")]


def test_metrics_on_training_data_only_is_a_warning(tmp_path):
    write_tb_scalars(tmp_path / "runs", {"train/loss": noisy_decreasing(50), "train/acc": fluctuating_metric(50)})
    (f,) = [f for f in log_findings(tmp_path) if f.rule == "missing-metrics"]
    assert (f.path, f.severity.value) == (_tb_rel(tmp_path, "runs"), "warning")


# --- hardcoded-metrics ----------------------------------------------------------------------------------------
def test_metric_that_is_a_formula_of_the_step(tmp_path):
    write_tb_scalars(tmp_path / "runs", {
        "train/loss": noisy_decreasing(20),
        "val/accuracy": [0.5 + 0.02 * i for i in range(20)],  # linear in the step
        "val/loss": [0.9 * 0.95 ** i for i in range(20)],  # geometric
        "lr": [0.1 - 0.004 * i for i in range(20)],  # a linear schedule is legitimate
    })
    rel = _tb_rel(tmp_path, "runs")
    findings = [f for f in log_findings(tmp_path) if f.rule == "hardcoded-metrics"]
    assert {(f.path, f.evidence["tag"], f.evidence["formula"]) for f in findings} == {
        (rel, "val/accuracy", "linear"), (rel, "val/loss", "geometric")}


def test_constant_metric_is_a_warning(tmp_path):
    (tmp_path / "history.jsonl").write_text(
        "\n".join(json.dumps({"epoch": i, "loss": v, "val_acc": 0.8125}) for i, v in enumerate(noisy_decreasing(8))))
    (f,) = [f for f in log_findings(tmp_path) if f.rule == "hardcoded-metrics"]
    assert (f.path, f.evidence["tag"], f.evidence["formula"], f.severity.value) == (
        "history.jsonl", "val_acc", "constant", "warning")


def test_fluctuating_metric_is_silent(tmp_path):
    _healthy(tmp_path, n=40)
    assert found(tmp_path, slugs={"hardcoded-metrics"}) == set()


# --- damaged files --------------------------------------------------------------------------------------------
def test_damaged_event_file_is_reported_as_parse_error(tmp_path):
    rel = _healthy(tmp_path)
    path = tmp_path / rel
    path.write_bytes(path.read_bytes()[:-5])
    assert found(tmp_path, slugs={"parse-error"}) == {("parse-error", rel)}
    (f,) = [f for f in log_findings(tmp_path) if f.rule == "parse-error"]
    assert f.severity.value == "info" and f.evidence["problems"][0]["kind"] == "truncated"
