"""Claims against the training evidence: metric values and loss trajectories against logged series (a real
TensorBoard event file), parameter counts against a real checkpoint and a run trace, and "training complete"
against logs that hold no value. Checked standalone (`--repo`) and inside the audit, with the same results."""

from __future__ import annotations

import pytest
import torch
from claims_tools import issues_of, write
from torch import nn
from torch.utils.tensorboard import SummaryWriter

from trainaudit.claims import check_documents
from trainaudit.context import AuditContext
from trainaudit.spec import Spec
from trainaudit.tracer.trace import TRACE_DIR, TRACE_FILE, ModuleRecord, Trace

RESULTS = """
# Results summary
- Final validation accuracy: 95.3%
- Best validation accuracy: 96.1%
- Training loss decreased from 2.31 to 0.42 over 3 steps
- Linear head: 220 parameters
- `Net` has 1,234 parameters
- Test F1: 0.88
- Training completed: 3 epochs, checkpoint saved
- Initial validation accuracy: 81.0%
"""

PROGRESS = """
# Progress
- Validation accuracy: 97.0%
- Dice score: 0.81
- Model size: 8.1M parameters
- Train loss went from 77809 to 410 over 15 steps
"""


def _event_file(root, rel: str) -> str:
    (path,) = (root / rel).glob("events.out.tfevents.*")
    return path.relative_to(root).as_posix()


def _trace(root) -> None:
    """A minimal valid run trace, built with the schema's own records."""
    modules = [
        ModuleRecord(id=0, cls="proj.model.Net", project=True, path="", children=[1, 2], params=1234, trainable=1234),
        ModuleRecord(id=1, cls="proj.model.Encoder", project=True, parent=0, name="encoder", path="encoder",
                     params=1000, trainable=1000),
        ModuleRecord(id=2, cls="torch.nn.modules.linear.Linear", parent=0, name="head", path="head", params=234,
                     trainable=234),
    ]
    Trace(mode="script", command=["python", "train.py"], project_root=str(root), status="completed",
          modules=modules).write(root / TRACE_DIR / TRACE_FILE)


@pytest.fixture
def project(tmp_path):
    with SummaryWriter(log_dir=str(tmp_path / "runs" / "exp1")) as w:
        for step, (acc, loss) in enumerate(zip((0.81, 0.961, 0.953), (2.31, 1.2, 0.42), strict=True)):
            w.add_scalar("val/accuracy", acc, step)
            w.add_scalar("train/loss", loss, step)
    (tmp_path / "ckpt").mkdir()
    torch.save(nn.Linear(10, 20).state_dict(), tmp_path / "ckpt" / "model.pt")  # 10*20 + 20 = 220 parameters
    _trace(tmp_path)
    write(tmp_path, "results/eval.txt", "test f1 = 0.88\n")
    write(tmp_path, "train.py", "print('train')\n")
    write(tmp_path, "RESULTS.md", RESULTS)
    write(tmp_path, "PROGRESS.md", PROGRESS)
    return tmp_path


def _check(root):
    return check_documents([root / "RESULTS.md", root / "PROGRESS.md"], root)


def _by_line(result, path: str) -> dict[tuple[int, str], tuple[str, list[str]]]:
    return {(c.line, c.kind): (c.status, c.evidence) for c in result.claims if c.path == path}


def test_true_results_are_verified_by_the_logs_checkpoint_and_trace(project):
    events = _event_file(project, "runs/exp1")
    result = _check(project)
    assert [i for i in result.issues if i.path == "RESULTS.md"] == []
    got = _by_line(result, "RESULTS.md")
    assert got == {
        (2, "metric"): ("verified", [f"val/accuracy in {events}: last value 95.3%"]),
        (3, "metric"): ("verified", [f"val/accuracy in {events}: best value 96.1% at step 1"]),
        (4, "trajectory"): ("verified", [f"train/loss in {events}: first value 2.31 (step 0), last value 0.42 "
                                         "(step 2), 3 points"]),
        (5, "params"): ("verified", ["ckpt/model.pt has 220 parameters"]),
        (6, "params"): ("verified", ["run trace: proj.model.Net has 1,234 parameters"]),
        (7, "metric"): ("verified", ["logged at results/eval.txt:1"]),
        (8, "training"): ("verified", [f"artefacts: ckpt/model.pt, {events} (6 logged values)"]),
        (9, "metric"): ("verified", [f"val/accuracy in {events}: value 81% at step 0 (last 95.3%)"]),
    }


def test_false_results_are_contradicted_with_the_logged_values(project):
    events = _event_file(project, "runs/exp1")
    result = _check(project)
    progress = [i for i in result.issues if i.path == "PROGRESS.md"]
    assert [(i.rule, i.line, i.lines) for i in progress] == [
        ("claim-contradicted", 2, [2]),
        ("claim-unsupported", 3, [3]),
        ("claim-contradicted", 4, [4]),
        ("claim-contradicted", 5, [5]),
    ]
    accuracy, dice, size, loss = progress
    assert accuracy.message == (f"line 2 reports accuracy 97.0%, but no logged accuracy series holds it: "
                                f"val/accuracy in {events}: last 95.3%, best 96.1% over 3 points")
    (series,) = accuracy.evidence["series"]
    assert (series["tag"], series["source"], series["points"]) == ("val/accuracy", events, 3)
    assert (round(series["last"], 3), round(series["best"], 3)) == (0.953, 0.961)
    assert dice.message == "line 3 reports Dice score 0.81, but no log or result file in the repository has it"
    assert size.message == ("line 4 states 8.1M parameters; ckpt/model.pt has 220, run trace: proj.model.Net has "
                            "1,234, run trace: proj.model.Encoder has 1,000")
    assert loss.message == (f"line 5 reports Train loss from 77809 to 410, but no logged train loss series runs so: "
                            f"train/loss in {events}: first 2.31, last 0.42 over 3 points")
    status = {line: s for (line, _kind), (s, _ev) in _by_line(result, "PROGRESS.md").items()}
    assert status == {2: "contradicted", 3: "unsupported", 4: "contradicted", 5: "contradicted"}


def test_a_claimed_split_is_not_held_against_another_splits_series(tmp_path):
    with SummaryWriter(log_dir=str(tmp_path / "runs")) as w:
        w.add_scalar("val/accuracy", 0.9, 0)
    write(tmp_path, "STATUS.md", "- Test accuracy: 97.0%\n- Training accuracy: 99.1%\n- Validation accuracy: 90%\n")
    result = check_documents([tmp_path / "STATUS.md"], tmp_path)
    assert issues_of(result) == [("claim-unsupported", 1, [1]), ("claim-unsupported", 2, [2])]
    assert [c.status for c in result.claims] == ["unsupported", "unsupported", "verified"]


def test_the_audit_passes_its_evidence_and_finds_the_same(project):
    standalone = _check(project)
    audited = AuditContext(project, Spec()).get("claims")
    assert audited.issues == standalone.issues  # both sorted by path and line
    assert sorted((c.path, c.line, c.kind, c.status, c.evidence) for c in audited.claims) == \
        sorted((c.path, c.line, c.kind, c.status, c.evidence) for c in standalone.claims)
    assert len(audited.claims) == 12


def test_training_complete_with_an_event_file_holding_no_scalar(tmp_path):
    with SummaryWriter(log_dir=str(tmp_path / "runs" / "exp1")) as w:
        w.add_text("notes", "started")  # a writer opened, nothing measured
    events = _event_file(tmp_path, "runs/exp1")
    write(tmp_path, "train.py", "print('train')\n")
    write(tmp_path, "STATUS.md", "# Status\n- Training completed successfully (10 epochs)\n")
    for result in (check_documents([tmp_path / "STATUS.md"], tmp_path),
                   AuditContext(tmp_path, Spec()).get("claims")):
        assert issues_of(result) == [("claim-contradicted", 2, [2])]
        assert result.issues[0].message == (
            "line 2 claims training was completed, but the repository has no readable checkpoint and no training "
            f"log with a logged value: {events} holds no logged scalar")
        assert result.issues[0].evidence["logs"] == [(events, 0)]


def test_a_saved_model_no_collector_reads_still_counts(tmp_path):
    (tmp_path / "export").mkdir()
    (tmp_path / "export" / "model.onnx").write_bytes(b"\x08\x07\x12\x07pytorch")
    write(tmp_path, "STATUS.md", "- Training completed successfully\n")
    result = check_documents([tmp_path / "STATUS.md"], tmp_path)
    assert result.issues == []
    assert [c.evidence for c in result.claims] == [["artefacts: export/model.onnx (not read)"]]
