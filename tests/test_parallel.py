"""Parsing in forked workers: the same findings as one process, and a failed worker costs time, never a file."""

from __future__ import annotations

import multiprocessing
import os
import threading
from pathlib import Path

import pytest

from trainaudit import audit
from trainaudit.evidence import parallel

FIXTURES = Path(__file__).parent / "fixtures"
EXAMPLES = Path(__file__).parent.parent / "examples"
PROJECTS = [*sorted(p for p in (FIXTURES / "bad").iterdir() if p.is_dir())[::3],
            *sorted(p for p in (FIXTURES / "legit").iterdir() if p.is_dir())[::3],
            *sorted(p for p in EXAMPLES.iterdir() if p.is_dir())]

pytestmark = pytest.mark.skipif(not parallel.worker_count(4, 10_000), reason="forking workers is not available here")


@pytest.fixture
def counted(monkeypatch):
    """Workers for every handful of files, and a count of the files whose results came back from a worker."""
    monkeypatch.setattr(parallel, "MIN_FILES_PER_WORKER", 1)
    from_workers: list[str] = []
    apply = parallel._apply

    def counting(files, future):
        if future.exception() is None:
            from_workers.extend(sf.path for sf in files)
        apply(files, future)

    monkeypatch.setattr(parallel, "_apply", counting)
    return from_workers


def test_findings_are_the_same_parsed_in_workers_or_in_one_process(counted):
    alone = [audit(p, jobs=1).to_dict() for p in PROJECTS]
    assert counted == []
    shared = [audit(p, jobs=3).to_dict() for p in PROJECTS]
    assert counted, "no file was parsed by a worker"
    assert shared == alone


def test_a_worker_reports_syntax_errors_undecodable_files_and_imports(tmp_path, counted):
    (tmp_path / "train.py").write_text("import torch\nfrom helpers import make\nclass Net(torch.nn.Module):\n"
                                       "    pass\nloss.backward()\n")
    (tmp_path / "helpers.py").write_text("from deep import make\n")
    (tmp_path / "deep.py").write_text("import numpy as np\n\n\ndef make():\n    return np.zeros(3)\n")
    (tmp_path / "broken.py").write_text("x = 1\ndef f(:\n")
    (tmp_path / "latin.py").write_bytes(b"name = '\xe9'\n")
    report = audit(tmp_path, jobs=2)
    # train.py and the module it imports are kept here; latin.py never parses
    assert sorted(counted) == ["broken.py", "deep.py"]
    parse = {(f.path, f.line) for f in report.findings if f.rule == "parse-error"}
    assert parse == {("broken.py", 2), ("latin.py", None)}
    assert report.to_dict() == audit(tmp_path, jobs=1).to_dict()


def test_a_worker_that_dies_leaves_its_files_to_this_process(monkeypatch, counted):
    parent = os.getpid()
    parse = parallel.parse_source

    def dying(sf, keep):
        if os.getpid() != parent:
            os._exit(3)  # a worker killed mid-parse (out of memory, a signal)
        parse(sf, keep)

    alone = [audit(p, jobs=1).to_dict() for p in PROJECTS]
    monkeypatch.setattr(parallel, "parse_source", dying)
    assert [audit(p, jobs=3).to_dict() for p in PROJECTS] == alone
    assert counted == []


def test_no_worker_is_forked_while_other_threads_run():
    assert parallel.worker_count(4, 10_000) == 3
    assert parallel.worker_count(1, 10_000) == 0
    assert parallel.worker_count(4, 600) == 1  # a worker needs MIN_FILES_PER_WORKER files
    stop = threading.Event()
    thread = threading.Thread(target=stop.wait)
    thread.start()
    try:
        assert parallel.worker_count(4, 10_000) == 0
    finally:
        stop.set()
        thread.join()


@pytest.mark.parametrize("jobs", ["0", "-2", "two"])
def test_jobs_must_be_a_whole_number_of_at_least_one(jobs):
    from test_cli import run

    proc = run("audit", str(EXAMPLES / "honest-run"), "--jobs", jobs)
    assert proc.returncode == 2
    assert f"expected a whole number of at least 1, got '{jobs}'" in proc.stderr


def test_jobs_on_the_command_line_gives_the_same_report(tmp_path):
    """The command with workers and without: the placeholder example beside enough helper modules (parsed by
    workers, their trees dropped) that `-j 4` forks at least one."""
    import shutil

    from test_cli import run

    from trainaudit.evidence.program import likely_read
    from trainaudit.evidence.source import load_source

    root = tmp_path / "project"
    shutil.copytree(EXAMPLES / "placeholder-run", root)
    helpers = root / "helpers"
    helpers.mkdir()
    for i in range(parallel.MIN_FILES_PER_WORKER + 50):
        (helpers / f"h{i}.py").write_text(f"import json\n\n\ndef read_{i}(path):\n    return json.load(open(path))\n")
    files = [load_source(root, p.relative_to(root).as_posix()) for p in root.rglob("*.py")]
    keep = likely_read(files)
    dropped = sum(not keep(sf) for sf in files)
    assert parallel.worker_count(4, dropped) >= 1
    reports = {jobs: run("audit", str(root), "-f", "json", "-j", jobs) for jobs in ("1", "4")}
    assert reports["1"].returncode == reports["4"].returncode == 1
    assert reports["1"].stdout == reports["4"].stdout


@pytest.mark.parametrize("refused_at", [1, 2])
def test_a_refused_fork_leaves_every_file_to_this_process_and_no_worker_behind(tmp_path, monkeypatch, counted,
                                                                            refused_at):
    """fork(2) at the process limit (EAGAIN), for the first worker or the second: the files are parsed here, and
    a worker forked before the refusal does not outlive the audit."""
    (tmp_path / "train.py").write_text("import torch\nfrom helpers import make\nclass Net(torch.nn.Module):\n"
                                       "    pass\nloss.backward()\n")
    for i in range(4):  # dropped files: two workers' worth
        (tmp_path / f"helpers{i}.py").write_text(f"def make{i}(x):\n    return x + {i}\n")
    alone = audit(tmp_path, jobs=1).to_dict()
    assert parallel.worker_count(3, 4) == 2
    fork, forks = os.fork, []

    def refusing():
        forks.append(1)
        if len(forks) == refused_at:
            raise BlockingIOError(11, "Resource temporarily unavailable")
        return fork()

    monkeypatch.setattr(os, "fork", refusing)
    assert audit(tmp_path, jobs=3).to_dict() == alone
    assert len(forks) == refused_at
    assert counted == []
    assert multiprocessing.active_children() == []


def test_this_process_takes_its_share_of_the_files_it_does_not_keep(tmp_path, counted):
    """One kept file and five others over two processes: this one parses the kept file and two others, the worker
    the last three, so that neither waits long for the other."""
    (tmp_path / "train.py").write_text("loss.backward()\n")
    for i in range(5):
        (tmp_path / f"h{i}.py").write_text(f"def h{i}():\n    return {i}\n")
    report = audit(tmp_path, jobs=2)
    assert sorted(counted) == ["h2.py", "h3.py", "h4.py"]
    assert report.to_dict() == audit(tmp_path, jobs=1).to_dict()
