"""The command line as users meet it: exit codes, formats, bad input, and an untouched project."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from harness import write_project

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
HONEST_TRAIN = """
    import torch
    import torch.nn.functional as F
    from torch.utils.data import DataLoader
    from torchvision.datasets import MNIST

    model = torch.nn.Linear(784, 10)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    train = DataLoader(MNIST("data", train=True), batch_size=64)
    test = DataLoader(MNIST("data", train=False), batch_size=256)
    for x, y in train:
        loss = F.cross_entropy(model(x.view(-1, 784)), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    correct = 0
    with torch.no_grad():
        for x, y in test:
            correct += (model(x.view(-1, 784)).argmax(1) == y).sum().item()
    print("accuracy", correct / len(test.dataset))
"""


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "trainaudit", *args], capture_output=True, text=True, cwd=cwd,
                          env={**os.environ, "NO_COLOR": "1"}, timeout=120)


def tree_digest(root: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(root.rglob("*")):
        h.update(p.relative_to(root).as_posix().encode())
        if p.is_file() and not p.is_symlink():
            h.update(p.read_bytes())
    return h.hexdigest()


def test_placeholder_example_json_is_invalid_with_key_findings():
    proc = run("audit", str(EXAMPLES / "placeholder-run"), "--format", "json")
    assert proc.returncode == 1, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["verdict"] == "invalid"
    assert {"schema_version", "verdict", "findings", "summary"} <= doc.keys()
    rules = {f["rule"] for f in doc["findings"]}
    assert {"placeholder-model", "synthetic-data"} <= rules
    for f in doc["findings"]:
        assert {"rule", "code", "severity", "message", "path", "line", "evidence"} <= f.keys()


def test_honest_example_is_valid_and_exits_zero():
    proc = run("audit", str(EXAMPLES / "honest-run"))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "verdict: VALID" in proc.stdout


def test_audit_never_changes_the_project(tmp_path):
    project = write_project(tmp_path / "p", {"train.py": HONEST_TRAIN, "bad.py": "def broken(:\n"})
    before = tree_digest(project)
    for fmt in ("text", "json", "markdown", "sarif"):
        assert run("audit", str(project), "--format", fmt).returncode in (0, 1, 3)
    assert tree_digest(project) == before


def test_unparsable_and_non_utf8_files_are_named_and_the_rest_audited(tmp_path):
    project = write_project(tmp_path, {"train.py": HONEST_TRAIN, "broken.py": "x = 1\ndef f(:\n"})
    (project / "latin.py").write_bytes(b"# caf\xe9\nx = 1\n")
    proc = run("audit", str(project), "--format", "json")
    doc = json.loads(proc.stdout)
    errors = {(f["path"], f["line"]): f["message"] for f in doc["findings"] if f["rule"] == "parse-error"}
    assert ("broken.py", 2) in errors and "syntax error" in errors[("broken.py", 2)]
    assert "not UTF-8" in errors[("latin.py", None)]
    assert doc["summary"]["entry_points"] == ["train.py"]
    assert proc.returncode == 0 and "Traceback" not in proc.stderr


def test_symlink_loop_is_skipped_without_hanging(tmp_path):
    project = write_project(tmp_path, {"train.py": HONEST_TRAIN})
    (project / "loop").symlink_to(project, target_is_directory=True)
    (project / "dangling.py").symlink_to(project / "missing.py")
    proc = run("audit", str(project), "--format", "json")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert any(f["path"] == "dangling.py" and f["rule"] == "parse-error" for f in doc["findings"])


def test_empty_directory_is_inconclusive(tmp_path):
    proc = run("audit", str(tmp_path))
    assert proc.returncode == 3
    assert "no Python source" in proc.stdout


TWO_GENERATORS = """
    import torch
    import torch.nn.functional as F
    from torch.utils.data import DataLoader, Dataset


    class Cells(Dataset):
        def __len__(self):
            return 1000

        def __getitem__(self, i):
            return torch.randn(3, 8, 8), torch.randint(0, 4, ()).item()


    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(192, 4))
    opt = torch.optim.Adam(model.parameters())
    for epoch in range(3):
        for x, y in DataLoader(Cells(), batch_size=8):
            loss = F.cross_entropy(model(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
"""


@pytest.mark.parametrize("project", ["two-generators", "placeholder-run"])
def test_the_report_is_the_same_whatever_the_hash_seed(tmp_path, project):
    """Provenance is kept in sets, which iterate in hash order: a finding whose source had two generators on one
    line named them, and could have been placed, differently from run to run."""
    root = EXAMPLES / project if project == "placeholder-run" else write_project(
        tmp_path, {"train.py": TWO_GENERATORS})
    outputs = set()
    for seed in ("1", "2", "3", "4"):
        proc = subprocess.run([sys.executable, "-m", "trainaudit", "audit", str(root), "--format", "json"],
                              capture_output=True, text=True, timeout=120,
                              env={**os.environ, "NO_COLOR": "1", "PYTHONHASHSEED": seed})
        assert proc.returncode == 1, proc.stderr
        outputs.add(proc.stdout)
    assert len(outputs) == 1


def test_a_jax_project_is_inconclusive_and_says_why(tmp_path):
    """google/flax's MNIST example trains with jax.value_and_grad and optax, which the rules do not read."""
    write_project(tmp_path, {"train.py": """
        import jax
        import optax
        from flax.training import train_state

        def train_step(state, images, labels):
            def loss_fn(params):
                logits = state.apply_fn({"params": params}, images)
                return optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean()
            loss, grads = jax.value_and_grad(loss_fn)(state.params)
            return state.apply_gradients(grads=grads), loss
    """})
    proc = run("audit", str(tmp_path))
    assert proc.returncode == 3
    assert "the project imports flax, jax, optax, whose training trainaudit does not analyse" in proc.stdout


@pytest.mark.parametrize("target", ["does-not-exist", "file.txt"])
def test_bad_path_is_a_usage_error(tmp_path, target):
    (tmp_path / "file.txt").write_text("x")
    proc = run("audit", str(tmp_path / target))
    assert proc.returncode == 2
    assert proc.stderr.startswith("trainaudit: error:") and "Traceback" not in proc.stderr


@pytest.mark.parametrize(("spec", "needle"), [
    ('modle = "Foo"\n', "unknown key 'modle'"),
    ("metrics = 3\n", "key 'metrics' must be a list"),
    ("model = [1\n", "not valid TOML"),
])
def test_bad_spec_exits_2_naming_the_problem(tmp_path, spec, needle):
    write_project(tmp_path, {"train.py": HONEST_TRAIN, "trainaudit.toml": spec})
    proc = run("audit", str(tmp_path))
    assert proc.returncode == 2 and needle in proc.stderr, proc.stderr


def test_spec_in_pyproject_and_select_ignore(tmp_path):
    write_project(tmp_path, {
        "pyproject.toml": '[project]\nname = "x"\n[tool.trainaudit]\nignore = ["placeholder-model"]\n',
        "train.py": "import torch\nx = torch.randn(4, 3)\nm = torch.nn.Linear(3, 1)\n"
                    "o = torch.optim.SGD(m.parameters(), 0.1)\nl = m(x).sum()\nl.backward()\no.step()\n",
    })
    doc = json.loads(run("audit", str(tmp_path), "-f", "json").stdout)
    assert doc["spec"]["ignore"] == ["placeholder-model"]
    assert "synthetic-data" in {f["rule"] for f in doc["findings"]}
    only = json.loads(run("audit", str(tmp_path), "-f", "json", "--select", "TA001").stdout)
    assert only["findings"] == []
    assert run("audit", str(tmp_path), "--select", "no-such-rule").returncode == 2


def test_inline_suppression(tmp_path):
    write_project(tmp_path, {
        "train.py": "import torch\nm = torch.nn.Linear(3, 1)\no = torch.optim.SGD(m.parameters(), 0.1)\n"
                    "x = torch.randn(4, 3)  # trainaudit: ignore[synthetic-data]\n"
                    "l = m(x).sum()\nl.backward()\no.step()\n",
    })
    doc = json.loads(run("audit", str(tmp_path), "-f", "json").stdout)
    assert "synthetic-data" not in {f["rule"] for f in doc["findings"]}


def test_output_file_is_written_whole_and_bad_output_dir_is_clear(tmp_path):
    out = tmp_path / "report.md"
    proc = run("audit", str(EXAMPLES / "placeholder-run"), "-f", "markdown", "-o", str(out))
    assert proc.returncode == 1 and proc.stdout == ""
    text = out.read_text()
    assert text.startswith("# Training Audit Report") and "## 3. Required Next Steps" in text
    assert [p.name for p in tmp_path.iterdir()] == ["report.md"]  # no temp file left behind
    proc = run("audit", str(EXAMPLES / "placeholder-run"), "-o", str(tmp_path / "nope" / "r.txt"))
    assert proc.returncode == 2 and "cannot write" in proc.stderr


def test_sarif_is_valid_sarif_2_1_0_for_code_scanning():
    sarif_pydantic = pytest.importorskip("sarif_pydantic")
    proc = run("audit", str(EXAMPLES / "placeholder-run"), "--format", "sarif")
    doc = json.loads(proc.stdout)
    sarif_pydantic.Sarif.model_validate(doc)
    assert doc["version"] == "2.1.0"
    run0 = doc["runs"][0]
    rule_ids = [r["id"] for r in run0["tool"]["driver"]["rules"]]
    assert len(rule_ids) == len(set(rule_ids))
    assert run0["results"]
    for res in run0["results"]:  # what GitHub code scanning requires of each result
        assert res["ruleId"] in rule_ids and res["message"]["text"]
        loc = res["locations"][0]["physicalLocation"]
        assert not loc["artifactLocation"]["uri"].startswith("/")
        assert loc["region"]["startLine"] >= 1
        assert res["partialFingerprints"]["trainaudit/v1"]


def test_rules_lists_every_rule_and_version():
    proc = run("rules", "--format", "json")
    rows = json.loads(proc.stdout)
    slugs = {r["slug"] for r in rows}
    assert {"placeholder-model", "synthetic-data", "missing-metrics", "swallowed-failure"} <= slugs
    assert all(r["code"].startswith("TA") for r in rows)
    assert run("--version").stdout.startswith("trainaudit ")


def test_help_does_not_import_heavy_modules():
    code = ("import sys; from trainaudit.cli import main\n"
            "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
            "heavy = [m for m in ('torch', 'numpy', 'tensorboard', 'trainaudit.engine') if m in sys.modules]\n"
            "print(heavy)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.stdout.strip().endswith("[]"), proc.stdout


def test_claims_command_reports_self_contradictions_and_exit_codes(tmp_path):
    doc = tmp_path / "STATUS.md"
    doc.write_text("# Status\n\n- S1.2.4: COMPLETE\n- S1.2.5: DONE\n\n## Later\n\n- S1.2.4: IN PROGRESS\n")
    proc = run("claims", str(doc), "--format", "json")
    assert proc.returncode == 1, proc.stderr
    issues = json.loads(proc.stdout)["issues"]
    assert any(i["rule"] == "claim-inconsistent" and i["lines"] == [3, 8] for i in issues), issues
    clean = tmp_path / "PROGRESS.md"
    clean.write_text("# Progress\n\n- S2.1: COMPLETE\n- S2.2: PENDING\n")
    assert run("claims", str(clean)).returncode == 0
    assert run("claims", str(tmp_path / "missing.md")).returncode == 2


def test_progress_goes_to_a_terminal_stderr_only(tmp_path):
    import pty

    project = write_project(tmp_path, {"train.py": HONEST_TRAIN})
    quiet = run("audit", str(project))
    assert quiet.stderr == ""  # not a terminal: nothing extra
    master, slave = pty.openpty()
    try:
        proc = subprocess.run([sys.executable, "-m", "trainaudit", "audit", str(project)], stdout=subprocess.PIPE,
                              stderr=slave, text=True, timeout=120)
        os.close(slave)
        seen = b""
        while True:
            try:
                chunk = os.read(master, 4096)
            except OSError:  # the pty closes once the child is gone
                break
            if not chunk:
                break
            seen += chunk
    finally:
        os.close(master)
    assert proc.returncode == 0
    assert b"parsing source files" in seen and b"rule " in seen
    assert "parsing" not in proc.stdout


def test_python_api_report_renders_every_format():
    from trainaudit import audit
    from trainaudit.report import FORMATS, render

    report = audit(EXAMPLES / "placeholder-run")
    assert report.verdict.value == "invalid" and int(report.exit_code) == 1
    for fmt in FORMATS:
        text = render(report, fmt)
        assert "placeholder-model" in text, fmt


@pytest.mark.parametrize("enabled", [True, False])
def test_python_api_pauses_the_garbage_collector_and_restores_its_state(enabled):
    import gc

    from trainaudit import audit
    from trainaudit.rules import registry

    seen: list[bool] = []

    def probe(ctx):  # a check that records the collector's state while rules run
        seen.append(gc.isenabled())
        return []

    checks = registry.get_rule("empty-logs").checks
    checks.insert(0, probe)
    was = gc.isenabled()
    (gc.enable if enabled else gc.disable)()
    try:
        audit(EXAMPLES / "honest-run")
        assert gc.isenabled() is enabled
    finally:
        checks.remove(probe)
        (gc.enable if was else gc.disable)()
    assert seen == [False]


def test_an_audit_leaves_no_tree_for_the_cyclic_collector():
    """Trees are freed by reference counting when audit() returns: one held by a reference cycle would wait
    for a collection that walks the whole heap, which the paused collector would run right after the audit."""
    import ast
    import gc

    from trainaudit import audit

    projects = [*sorted((EXAMPLES.parent / "tests" / "fixtures").glob("*/*")), *sorted(EXAMPLES.iterdir())]
    gc.collect()
    was = gc.isenabled()
    gc.disable()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        for project in (p for p in projects if p.is_dir()):
            audit(project)
            gc.collect()
            held = sorted({type(o).__name__ for o in gc.garbage if isinstance(o, ast.AST)})
            gc.garbage.clear()
            assert not held, f"{project.name}: cyclic garbage holds AST nodes {held}"
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        if was:
            gc.enable()


def test_logs_and_ckpt_inspection_commands():
    runs = EXAMPLES / "honest-run" / "runs"
    doc = json.loads(run("logs", str(runs), "--format", "json").stdout)
    series = {s["tag"]: s for f in doc["files"] for s in f["series"]}
    assert series["train/loss"]["trend"] == "decreasing" and series["train/loss"]["points"] == 8
    assert {"first", "last", "min", "max", "non_finite"} <= series["val/accuracy"].keys()
    ckpt = EXAMPLES / "honest-run" / "checkpoints" / "shape_cnn.pt"
    proc = run("ckpt", str(ckpt))
    assert proc.returncode == 0 and "no global outside the weights allowlist" in proc.stdout
    assert "9,604 parameters" in proc.stdout
    assert json.loads(run("ckpt", str(ckpt), "--format", "json").stdout)
    assert run("ckpt", str(runs / "missing.pt")).returncode == 2
    assert run("logs", str(runs / "missing")).returncode == 2


def test_readme_sample_output_is_what_the_tool_prints():
    readme = (EXAMPLES.parent / "README.md").read_text(encoding="utf-8")
    sample = readme.split("The output:\n\n```text\n", 1)[1].split("\n```", 1)[0]
    proc = run("audit", "examples/placeholder-run", cwd=EXAMPLES.parent)
    assert proc.stdout.rstrip("\n") == sample
