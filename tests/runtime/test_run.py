"""`trainaudit run` for real on small training scripts, then `audit`: exact trace findings, exact places."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from harness import markers, write_project
from projects import PROJECTS

from trainaudit import audit
from trainaudit.tracer.trace import Trace, read_trace

pytest.importorskip("torch")

RUNS = {  # project -> (command after --, extra `run` options)
    "multimodal_randn": (["python", "train.py"], []),
    "detached_encoder": (["python", "train.py"], []),
    "three_optimizers": (["python", "train.py"], []),
    "never_steps": (["python", "train.py"], []),
    "nan_loss": (["python", "train.py"], []),
    "frozen_backbone": (["python", "train.py"], []),
    "gan": (["python", "train.py"], []),
    "vae": (["python", "train.py"], []),
    "diffusion": (["python", "-m", "train"], []),
    "crash": (["python", "train.py"], []),
    "sys_exit": (["python", "train.py"], []),
    "hang": (["python", "train.py"], ["--timeout", "8"]),
    "workers": (["python", "train.py"], []),
    "argv": (["python", "train.py", "--epochs", "2", "--lr", "0.05"], []),
    "smoke": ([], ["--model", "pkg.model:build", "--batch", "pkg.model:batch", "--steps", "8"]),
    "cleared_grads": (["python", "train.py"], []),
    "placeholder_model": (["python", "train.py"], []),
    "tensorboard_metrics": (["python", "train.py"], ["--steps", "20"]),  # one epoch of 8 steps, then it ends
    "tensorboard_loss_only": (["python", "train.py"], ["--steps", "20"]),
    "lightning": (["python", "train.py"], ["--steps", "10"]),  # Trainer(max_steps=4) ends first
    "kwarg_randn": (["python", "train.py"], []),
    "cat_randn": (["python", "train.py"], []),
    "discarded_aux": (["python", "train.py"], []),
}
PLAIN_FIRST = {"placeholder_model"}  # run plainly first: the checkpoint on disk comes from a real earlier run


def trainaudit_run(root: Path, command: list[str], options: list[str]) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "trainaudit", "run", *options] + (["--", *command] if command else [])
    return subprocess.run(cmd, cwd=root, capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="session")
def runs(tmp_path_factory) -> dict[str, tuple[Path, subprocess.CompletedProcess, Trace]]:
    """Every fixture project run once, three at a time (each child spends most of its time importing torch)."""
    base = tmp_path_factory.mktemp("runtime")

    def one(name: str):
        root = write_project(base / name, PROJECTS[name])
        command, options = RUNS[name]
        if name in PLAIN_FIRST:
            subprocess.run([sys.executable, *command[1:]], cwd=root, check=True, capture_output=True, timeout=120)
        proc = trainaudit_run(root, command, options)
        return name, (root, proc, read_trace(root / ".trainaudit" / "trace.json"))

    with ThreadPoolExecutor(max_workers=3) as pool:
        return dict(pool.map(one, RUNS))


def trace_findings(root: Path) -> set[tuple[str, str, int | None, str]]:
    return {(f.rule, f.path, f.line, f.severity.value) for f in audit(root).findings if f.source == "trace"}


def expected(root: Path, *extra: tuple[str, str, int | None, str]) -> set[tuple[str, str, int | None, str]]:
    """`# expect: slug` lines carry the rule's default severity; `extra` adds findings without a line."""
    from trainaudit.rules.registry import get_rule

    marked = {(slug, path, line, get_rule(slug).severity.value) for slug, path, line in markers(root)}
    return marked | set(extra)


@pytest.mark.parametrize("name", ["multimodal_randn", "detached_encoder", "three_optimizers"])
def test_broken_wiring_is_found_at_the_component(runs, name):
    root, proc, trace = runs[name]
    assert proc.returncode == 0, proc.stderr
    assert trace.status == "stopped" and trace.steps, trace.stderr_tail
    assert trace_findings(root) == expected(root)


def test_module_output_thrown_away(runs):
    root, proc, trace = runs["discarded_aux"]
    assert proc.returncode == 0, proc.stderr
    aux = next(m for m in trace.modules if m.cls.endswith(".AuxHead"))
    assert aux.calls == aux.tensor_outputs == 5 and aux.outputs_consumed == aux.outputs_reaching_loss == 0
    assert trace_findings(root) == expected(root)


def test_loop_without_optimizer_step(runs):
    root, _, trace = runs["never_steps"]
    assert trace.status == "completed" and not trace.steps and len(trace.backwards) == 8
    (save,) = trace.saves
    assert (save.path, save.what, save.after_steps, save.params, save.params_changed) == ("model.pt", "state_dict",
                                                                                         0, 4, 0)
    assert save.where.path == "train.py" and trace.modules[save.module].cls == "model.Net"
    assert trace_findings(root) == expected(root, ("placeholder-loop", "train.py", None, "error"))


def test_checkpoint_saved_after_steps_that_changed_nothing(runs):
    root, _, trace = runs["cleared_grads"]
    assert trace.status == "stopped" and len(trace.steps) == 5 and not any(s.params_changed for s in trace.steps)
    (save,) = trace.saves  # after epoch 0 (4 steps); step 5 ends the run
    assert (save.path, save.after_steps, save.params, save.params_changed) == ("checkpoint_0.pt", 4, 4, 0)
    assert trace_findings(root) == expected(root, ("placeholder-loop", "train.py", None, "error"))
    (f,) = [f for f in audit(root).findings if f.rule == "untrained-checkpoint" and f.source == "trace"]
    assert "checkpoint_0.pt" in f.message and "Net" in f.message and f.evidence["optimizer_steps_over_module"] == 5


def test_nan_loss(runs):
    root, _, trace = runs["nan_loss"]
    assert trace.backwards and not any(b.finite for b in trace.backwards)
    assert all(s.loss is None for s in trace.steps)  # NaN is stored as null; `finite` keeps the fact
    assert trace_findings(root) == {("nan-values", "train.py", None, "error")}


def test_frozen_backbone_is_info_only(runs):
    root, _, trace = runs["frozen_backbone"]
    found = trace_findings(root)
    assert found == {(slug, path, line, "info") for slug, path, line, _ in expected(root)}
    backbone = next(m for m in trace.modules if m.cls.endswith(".Backbone"))
    assert backbone.trainable == 0 and backbone.params == 8 * 32 + 32 + 32 * 16 + 16 + 2 * 16


@pytest.mark.parametrize("name", ["gan", "vae", "diffusion", "workers", "argv"])
def test_legitimate_training_is_silent(runs, name):
    root, proc, trace = runs[name]
    assert proc.returncode == 0, proc.stderr
    assert trace.status == "stopped", trace.stderr_tail
    assert trace_findings(root) == set()
    assert all(s.params_changed for s in trace.steps)
    assert any(b.provenance and "data" in b.provenance for b in trace.backwards)


def test_gan_generator_is_reached_through_the_discriminator(runs):
    _, _, trace = runs["gan"]
    assert len(trace.optimizers) == 2 and all(o.steps >= 4 for o in trace.optimizers)
    def top(mid):
        while trace.modules[mid].parent is not None:
            mid = trace.modules[mid].parent
        return trace.modules[mid].cls.rsplit(".", 1)[-1]

    reach = [{top(m) for m in b.modules_reached} for b in trace.backwards]
    assert {"Discriminator"} in reach and {"Generator", "Discriminator"} in reach


def test_dataloader_workers_and_argv(runs):
    _, _, workers = runs["workers"]
    assert len(workers.steps) == 5 and workers.steps[0].loss is not None
    _, _, argv = runs["argv"]
    assert argv.command == ["python", "train.py", "--epochs", "2", "--lr", "0.05"]
    assert argv.optimizers[0].lr == 0.05


def test_crash_points_at_the_raise(runs):
    root, proc, trace = runs["crash"]
    assert proc.returncode == 0  # the trace was written; what the script did is in it
    assert trace.status == "exception" and trace.exit_status == 1 and len(trace.steps) == 2
    assert trace.exception.type == "RuntimeError" and "shape mismatch" in trace.exception.message
    assert trace_findings(root) == expected(root)


def test_sys_exit(runs):
    root, _, trace = runs["sys_exit"]
    assert trace.status == "exit" and trace.exit_status == 3
    assert trace_findings(root) == {("run-failed", "train.py", None, "error")}


def test_hang_before_first_step(runs):
    root, _, trace = runs["hang"]
    assert trace.status == "timeout" and not trace.steps
    assert any("time.sleep(120)" in line for line in trace.hung_at), trace.hung_at
    assert [m.cls for m in trace.modules] == ["torch.nn.modules.linear.Linear"]
    assert trace.modules[0].created_at.path == "train.py" and trace.modules[0].created_at.line == 5
    assert trace_findings(root) == {("run-failed", "train.py", None, "error")}


def test_smoke_mode(runs):
    root, proc, trace = runs["smoke"]
    assert proc.returncode == 0, proc.stderr
    s = trace.smoke
    assert trace.mode == "smoke" and s.loss_kind == "cross-entropy" and s.output_shape == [16, 5]
    assert s.loss_fell and s.plausible_initial and abs(s.expected_initial - 1.6094) < 1e-3
    assert s.params == 4 and s.params_with_grad == 4 and len(trace.steps) == 8
    assert trace_findings(root) == set()


def _tree_hash(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file() and ".trainaudit" not in p.parts}


def test_project_is_not_harmed(tmp_path):
    root = write_project(tmp_path / "proj", {"data.py": PROJECTS["gan"]["data.py"], "train.py": """
        import json
        import os
        import sys

        import torch
        from data import loader

        model = torch.nn.Linear(8, 3)
        opt = torch.optim.SGD(model.parameters(), lr=0.1)
        os.makedirs("checkpoints", exist_ok=True)
        for step, (x, y) in enumerate(loader()):
            opt.zero_grad()
            loss = torch.nn.functional.cross_entropy(model(x), y)
            loss.backward()
            torch.save(model.state_dict(), "checkpoints/best.pt")
            with open("results.json", "w") as fh:
                json.dump({"loss": loss.item()}, fh)
            with open("images/log.txt", "a") as fh:
                fh.write("more\\n")
            try:
                open(sys.argv[1], "w").write("clobbered")
            except PermissionError as exc:
                print("blocked", exc)
            opt.step()
    """})
    (root / "checkpoints").mkdir()
    torch = pytest.importorskip("torch")
    torch.save({"weight": torch.zeros(3, 8), "bias": torch.zeros(3)}, root / "checkpoints" / "best.pt")
    (root / "results.json").write_text('{"loss": 0.01}')
    images = root / "images"  # a folder large enough to be linked rather than copied
    images.mkdir()
    for i in range(2100):
        (images / f"{i}.txt").write_text(str(i))
    (images / "log.txt").write_text("original\n")
    before = _tree_hash(root)
    proc = trainaudit_run(root, ["python", "train.py", str(root / "results.json")], [])
    assert proc.returncode == 0, proc.stderr
    assert _tree_hash(root) == before
    trace = read_trace(root / ".trainaudit" / "trace.json")
    assert trace.status == "stopped" and len(trace.steps) == 5
    assert trace.sandbox.linked == ["images"] and "images/log.txt" in trace.sandbox.redirected_writes
    assert trace.sandbox.blocked_writes == [str(root / "results.json")] * 5
    assert {s.path for s in trace.saves} == {"checkpoints/best.pt"} and trace.saves[0].what == "state_dict"
    assert trace.saves[0].module == next(m.id for m in trace.modules if m.cls.endswith("Linear"))
    assert trace_findings(root) == {("missing-metrics", "train.py", None, "warning")}  # it logs nothing


def test_bad_trace_is_a_finding(tmp_path):
    root = write_project(tmp_path / "p", {"train.py": "print('hi')\n"})
    (root / ".trainaudit").mkdir()
    (root / ".trainaudit" / "trace.json").write_text(json.dumps({"schema": "trainaudit-trace", "version": 99}))
    assert trace_findings(root) == {("run-failed", ".trainaudit/trace.json", None, "warning")}
    (root / ".trainaudit" / "trace.json").write_text("{not json")
    assert trace_findings(root) == {("run-failed", ".trainaudit/trace.json", None, "warning")}


def test_usage_errors_exit_2(tmp_path):
    assert trainaudit_run(tmp_path, ["python", "missing.py"], []).returncode == 2
    assert trainaudit_run(tmp_path, [], []).returncode == 2
    assert trainaudit_run(tmp_path, ["python", "x.py"], ["--model", "a:b"]).returncode == 2
    assert not (tmp_path / ".trainaudit").exists()


def test_trained_model_is_not_the_spec_model(runs, tmp_path):
    root, proc, trace = runs["placeholder_model"]
    assert proc.returncode == 0, proc.stderr
    assert trace.status == "stopped" and not trace.saves  # stopped before its save: the file on disk is older
    ckpt = ("checkpoint-mismatch", "checkpoints/model.pt", None, "error")
    assert trace_findings(root) == expected(root, ckpt)
    findings = {f.rule: f for f in audit(root).findings if f.source == "trace"}
    mismatch = findings["checkpoint-mismatch"].message
    assert "traced SimpleNet (models.py:" in mismatch and "not of the required Net" in mismatch
    assert "Net was not built during the run" in mismatch
    assert "steps SimpleNet (SimpleNet), not the required Net" in findings["placeholder-model"].message
    spec = tmp_path / "trainaudit.toml"
    spec.write_text('model = "models.SimpleNet"\n')  # the same run and file judged against the class it fits
    assert {(f.rule, f.path, f.line, f.severity.value) for f in audit(root, spec=spec).findings
            if f.source == "trace"} == set()


def test_spec_model_that_is_trained_is_silent(runs, tmp_path):
    root, _, _ = runs["argv"]
    spec = tmp_path / "trainaudit.toml"
    spec.write_text('model = "model.Net"\nmetrics = ["accuracy"]\n')  # a stopped run: metrics judged when done
    assert {f.rule for f in audit(root, spec=spec).findings if f.source == "trace"} == set()


def test_summary_writer_tags(runs):
    root, proc, trace = runs["tensorboard_metrics"]
    assert proc.returncode == 0, proc.stderr
    assert trace.status == "completed" and len(trace.steps) == 8
    assert {(c.kind, c.tag) for c in trace.logs} == {("tensorboard", "train/loss"), ("tensorboard", "val/accuracy")}
    assert [c.after_steps for c in trace.logs if c.tag == "val/accuracy"] == [8]
    assert trace_findings(root) == set()


def test_summary_writer_loss_only(runs, tmp_path):
    root, _, trace = runs["tensorboard_loss_only"]
    assert trace.status == "completed" and {c.tag for c in trace.logs} == {"train/loss"}
    assert trace_findings(root) == {("missing-metrics", "train.py", None, "error")}
    spec = tmp_path / "trainaudit.toml"
    spec.write_text('metrics = ["accuracy"]\n')
    messages = [f.message for f in audit(root, spec=spec).findings if f.source == "trace"]
    assert len(messages) == 2 and any("requires the metric 'accuracy'" in m for m in messages)


def test_lightning_self_log(runs):
    root, proc, trace = runs["lightning"]
    assert proc.returncode == 0, proc.stderr
    assert trace.status == "completed" and len(trace.steps) == 4, trace.stderr_tail
    assert {(c.kind, c.tag) for c in trace.logs} == {("lightning", "train_loss"), ("lightning", "train_acc")}
    assert trace_findings(root) == set()


@pytest.mark.parametrize("name", ["kwarg_randn", "cat_randn"])
def test_dummy_input_by_keyword_or_concatenation(runs, name):
    root, proc, trace = runs[name]
    assert proc.returncode == 0, proc.stderr
    assert trace_findings(root) == expected(root)


def test_dummy_input_records_keyword_and_cat_part(runs):
    _, _, kw = runs["kwarg_randn"]
    fusion = next(m for m in kw.modules if m.cls.endswith(".Fusion"))
    assert [(d.arg, d.provenance, d.shape, d.part) for d in fusion.dummy_inputs] == [
        ("kwargs['audio']", ["random"], [8, 16], None)]
    _, _, cat = runs["cat_randn"]
    head = next(m for m in cat.modules if m.path == "Multimodal.head")
    (d,) = head.dummy_inputs
    assert (d.arg, d.part, d.provenance, d.shape, d.where.path) == ("args[0]", 1, ["random"], [8, 16], "train.py")


def test_trace_lists_imported_project_sources(runs):
    root, _, trace = runs["workers"]
    assert set(trace.sources) == {"train.py", "model.py", "data.py"}
    assert trace.sources["model.py"] == hashlib.sha256((root / "model.py").read_bytes()).hexdigest()
    _, _, smoke = runs["smoke"]
    assert set(smoke.sources) == {"pkg/__init__.py", "pkg/model.py"}
    _, _, module = runs["diffusion"]  # `python -m train`: runpy takes __main__ out of sys.modules again
    assert set(module.sources) == {"train.py", "data.py"}


def test_stale_trace(runs, tmp_path):
    root = tmp_path / "copy"
    shutil.copytree(runs["never_steps"][0], root)
    current = trace_findings(root)
    assert "stale-trace" not in {f[0] for f in current} and current
    with (root / "model.py").open("a") as fh:
        fh.write("# the model changed after the run\n")
    (root / "data.py").unlink()
    findings = [f for f in audit(root).findings if f.source == "trace"]
    stale = [f for f in findings if f.rule == "stale-trace"]
    assert [(f.path, f.line, f.severity.value) for f in stale] == [(".trainaudit/trace.json", None, "warning")]
    assert stale[0].evidence["changed"] == ["model.py"] and stale[0].evidence["deleted"] == ["data.py"]
    others = [f for f in findings if f.rule != "stale-trace"]
    assert {(f.rule, f.path, f.line, f.severity.value) for f in others} == current
    assert all("stale trace" in f.message and f.evidence["stale_trace"] for f in others)


def test_version_1_trace_is_still_read(runs, tmp_path):
    root = tmp_path / "copy"
    shutil.copytree(runs["never_steps"][0], root)
    path = root / ".trainaudit" / "trace.json"
    data = json.loads(path.read_text())
    data["version"] = 1
    del data["sources"]
    for save in data["saves"]:
        for key in ("where", "params", "params_changed"):
            del save[key]
    path.write_text(json.dumps(data))
    assert read_trace(path).version == 1
    # Without the save's parameter counts, the checkpoint cannot be judged; nothing can be judged stale.
    assert trace_findings(root) == {("placeholder-loop", "train.py", None, "error")}


def test_library_layers_given_masks_or_zero_states_are_not_fed_stand_ins(tmp_path):
    """In process: the recorder's own view of keyword arguments into library layers."""
    torch = pytest.importorskip("torch")
    import numpy as np

    from trainaudit.tracer.hooks import Recorder
    from trainaudit.tracer.sites import Paths

    rec = Recorder(Paths(str(tmp_path)), steps=10**9)
    rec.install()
    try:
        x = torch.from_numpy(np.random.default_rng(0).normal(size=(2, 5, 8)).astype("float32"))  # data
        layer = torch.nn.TransformerEncoderLayer(8, 2, 16, batch_first=True)
        layer(x, src_mask=torch.nn.Transformer.generate_square_subsequent_mask(5))  # a constant mask: by design
        gru = torch.nn.GRU(8, 8, batch_first=True)
        gru(x, torch.zeros(1, 2, 8))  # a zero initial state: by design
        gru(x, hx=torch.randn(1, 2, 8))  # a random state by keyword: recorded
    finally:
        rec.uninstall()
    dummies = {r.cls.rsplit(".", 1)[-1]: [(d.arg, d.provenance) for d in r.dummy_inputs]
               for r in rec.modules if r.dummy_inputs}
    assert dummies == {"GRU": [("kwargs['hx']", ["random"])]}


def test_module_outputs_consumed_and_reaching_the_loss(tmp_path):
    """In process: each call's output counts as used once, also when a parent module returns the same tensor."""
    torch = pytest.importorskip("torch")

    from trainaudit.tracer.hooks import Recorder
    from trainaudit.tracer.sites import Paths

    rec = Recorder(Paths(str(tmp_path)), steps=10**9)
    rec.install()
    try:
        used, unused, inner = torch.nn.Linear(4, 2), torch.nn.Linear(4, 2), torch.nn.Linear(4, 2)
        outer = torch.nn.Sequential(inner)  # returns inner's very output tensor
        x = torch.ones(3, 4)
        unused(x)
        used(x)  # its first output is thrown away
        loss = (used(x) + outer(x)).sum()
        loss.backward()
    finally:
        rec.uninstall()
    counts = {name: (r.calls, r.tensor_outputs, r.outputs_consumed, r.outputs_reaching_loss)
              for name, m in (("used", used), ("unused", unused), ("inner", inner), ("outer", outer))
              for r in [rec.module(m, site=False)]}
    assert counts == {"used": (2, 2, 1, 1), "unused": (1, 1, 0, 0), "inner": (1, 1, 1, 1), "outer": (1, 1, 1, 1)}
