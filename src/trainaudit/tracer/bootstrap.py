"""The child process: install the instrumentation, run the target as __main__, write the child trace."""

from __future__ import annotations

import hashlib
import json
import os
import resource
import signal
import sys
import time
import traceback
from pathlib import Path
from typing import Any

from trainaudit.evidence.files import SKIP_DIRS
from trainaudit.tracer.trace import ExceptionInfo, Sandbox, Trace

EXIT_TIMEOUT = 124
MAX_SOURCES = 5000


def _exception(exc: BaseException, paths) -> ExceptionInfo:
    lines = [paths.text(s) for s in traceback.format_exception(type(exc), exc, exc.__traceback__)]
    where = None
    for fs in traceback.extract_tb(exc.__traceback__):
        w = paths.where(fs.filename, fs.lineno)
        if w.in_project:
            where = w
    return ExceptionInfo(type(exc).__name__, str(exc), lines, where)


def _run_target(config: dict[str, Any], recorder, entry: list[str]) -> Any:
    """Run the target; `entry` receives its file (runpy takes __main__ back out of sys.modules afterwards)."""
    import importlib.util
    import runpy

    mode, target, args = config["mode"], config["target"], config["args"]
    if mode == "script":
        sys.argv = [target, *args]
        sys.path[0] = os.path.dirname(os.path.abspath(target))
        entry.append(os.path.abspath(target))
        runpy.run_path(target, run_name="__main__")
    elif mode == "module":
        sys.argv = [target, *args]
        sys.path[0] = os.getcwd()
        try:
            spec = importlib.util.find_spec(target)
            if spec is not None and spec.origin:
                entry.append(spec.origin)
        except (ImportError, ValueError):
            pass  # run_module reports it
        runpy.run_module(target, run_name="__main__", alter_sys=True)
    else:
        from trainaudit.tracer.smoke import run_smoke

        sys.path[:0] = [os.getcwd(), os.path.join(os.getcwd(), "src")]
        recorder.steps_wanted = 10**9  # smoke mode counts its own steps
        return run_smoke(target, config.get("batch"), config["steps"])
    return None


def main(config_path: str) -> int:
    config = json.loads(Path(config_path).read_text(encoding="utf-8"))
    out = Path(config["out"])
    trace = Trace(mode=config["mode"], command=config["command"], project_root=config["project"], status="completed",
                  exit_status=0, steps_requested=config["steps"])
    started = time.perf_counter()
    try:
        import torch  # noqa: F401  the project's environment must provide torch
    except ImportError as exc:
        trace.status, trace.exit_status = "exception", 1
        trace.exception = ExceptionInfo(type(exc).__name__, f"torch is not importable here: {exc}", [])
        trace.write(out)
        return 1

    from trainaudit.tracer.guard import WriteGuard
    from trainaudit.tracer.hooks import Recorder, StopRun
    from trainaudit.tracer.logcalls import Calls
    from trainaudit.tracer.sites import Paths

    paths = Paths(os.getcwd(), config["project"])
    sandbox = Sandbox(scratch=os.getcwd())
    WriteGuard(os.getcwd(), config["project"], sandbox).install()
    recorder = Recorder(paths, config["steps"])
    calls = Calls(recorder)
    _watch_dataloader(recorder)
    calls.install()
    recorder.install()

    entry: list[str] = []  # the target's own file

    def finish() -> None:
        calls.uninstall()
        recorder.uninstall()
        try:
            recorder.finish()
        except Exception as exc:  # noqa: BLE001  a partial trace beats none
            trace.instrumentation.append(f"trace incomplete: finishing failed ({type(exc).__name__}: {exc})")
        trace.modules, trace.parameters = recorder.modules, recorder.params
        trace.optimizers, trace.backwards, trace.steps = recorder.optimizers, recorder.backwards, recorder.steps
        trace.random_sources = list(recorder.random_sources.values())
        trace.logs, trace.logs_dropped, trace.saves = calls.logs, calls.dropped, calls.saves
        trace.sandbox = sandbox
        trace.sources = _sources(paths, entry)
        trace.instrumentation[:0] = [
            "torch.nn.modules.module global parameter/buffer/module registration and forward (pre-)hooks "
            "(the forward hook with_kwargs=True, to see keyword arguments)",
            "torch.optim.optimizer global step pre/post hooks",
            "torch.overrides.TorchFunctionMode for provenance and Tensor.backward",
            "wrapped torch.utils.data DataLoader iterator __next__ to mark batches as data (no hook exists)",
            *calls.notes]
        trace.duration = time.perf_counter() - started
        trace.peak_rss_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        if torch.cuda.is_available() and torch.cuda.is_initialized():
            trace.cuda_peak_bytes = int(torch.cuda.max_memory_allocated())

    def on_term(signum, frame):
        if os.getpid() != recorder.main_pid:
            os._exit(EXIT_TIMEOUT)
        trace.status, trace.exit_status = "timeout", EXIT_TIMEOUT
        trace.hung_at = [paths.text(s) for s in traceback.format_stack(frame)]
        try:
            finish()
            trace.write(out)
        finally:
            os._exit(EXIT_TIMEOUT)

    signal.signal(signal.SIGTERM, on_term)
    code = 0
    try:
        trace.smoke = _run_target(config, recorder, entry)
    except StopRun:
        trace.status = "stopped"
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        trace.status, trace.exit_status = "exit", code
    except KeyboardInterrupt:
        trace.status, trace.exit_status, code = "interrupted", 130, 130
    except BaseException as exc:  # noqa: BLE001  the script's failure is the result we record
        trace.status, trace.exit_status, code = "exception", 1, 1
        trace.exception = _exception(exc, paths)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    finish()
    trace.write(out)
    return code


def _sources(paths, entry: list[str]) -> dict[str, str]:
    """sha256 of every project file the run imported, so `audit` can tell when the code changed since."""
    files = [*entry, *(getattr(m, "__file__", None) for m in list(sys.modules.values()))]
    out: dict[str, str] = {}
    for f in files:
        if not isinstance(f, str) or len(out) >= MAX_SOURCES:
            continue
        where = paths.where(f, None)
        if not where.in_project or where.path in out or set(where.path.split("/")) & SKIP_DIRS:
            continue  # an environment inside the project (.venv) is not the project's code
        try:
            out[where.path] = hashlib.sha256(Path(f).read_bytes()).hexdigest()
        except OSError:
            continue
    return dict(sorted(out.items()))


def _watch_dataloader(recorder) -> None:
    """Batches from a DataLoader are data unless every source was a random factory (a random dataset)."""
    import torch
    from torch.utils.data import dataloader

    from trainaudit.tracer.provenance import DATA, RANDOM

    base = dataloader._BaseDataLoaderIter
    original = base.__next__
    table = recorder.table

    def mark(x: Any, depth: int = 0) -> None:
        if isinstance(x, torch.Tensor):
            mask = table.peek(x)
            if mask != RANDOM:
                table.set(x, mask | DATA)
        elif depth < 3 and isinstance(x, (list, tuple)):
            for v in x:
                mark(v, depth + 1)
        elif depth < 3 and isinstance(x, dict):
            for v in x.values():
                mark(v, depth + 1)

    def __next__(self):
        batch = original(self)
        if os.getpid() == recorder.main_pid:
            mark(batch)
        return batch

    base.__next__ = __next__


if __name__ == "__main__":
    code = main(sys.argv[1])
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)  # do not wait for threads or workers the script left behind; the parent reaps the group
