"""The parent side of `trainaudit run`: sandbox, child process, step/time limits, the final trace file."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path

import trainaudit
from trainaudit.tracer.sandbox import make_scratch
from trainaudit.tracer.trace import TRACE_DIR, TRACE_FILE, Trace, TraceError, read_trace

GRACE = 5.0  # seconds between SIGTERM (the child writes its trace) and SIGKILL
_PYTHON = re.compile(r"python(\d(\.\d+)?)?$")


class UsageError(Exception):
    """A `trainaudit run` request that cannot be carried out as written (exit code 2)."""


@dataclass
class Target:
    interpreter: str
    mode: str  # script | module | smoke
    target: str
    args: list[str]
    batch: str | None = None


def plan(command: list[str], model: str | None = None, batch: str | None = None) -> Target:
    """`python SCRIPT ARGS`, `python -m MODULE ARGS`, `SCRIPT.py ARGS`, or smoke mode from --model."""
    if model:
        if command:
            raise UsageError("give either --model (smoke mode) or a command after --, not both")
        return Target(sys.executable, "smoke", model, [], batch)
    if batch:
        raise UsageError("--batch needs --model")
    if not command:
        raise UsageError("nothing to run: give `-- python SCRIPT [ARGS...]` or `--model pkg.module:factory`")
    first, rest = command[0], command[1:]
    if _PYTHON.match(os.path.basename(first)):
        # A bare `python` means the current environment; a path names another interpreter.
        interpreter = sys.executable if os.sep not in first else os.path.abspath(first)
    elif first.endswith(".py"):
        interpreter, rest = sys.executable, command
    else:
        raise UsageError(f"expected `python SCRIPT` or `python -m MODULE` after --, got {first!r}")
    rest = [a for a in rest if a != "-u"]  # unbuffered output is harmless; other interpreter flags are not supported
    if not rest:
        raise UsageError("no script or -m module after the interpreter")
    if rest[0] == "-m":
        if len(rest) < 2:
            raise UsageError("-m needs a module name")
        return Target(interpreter, "module", rest[1], rest[2:])
    if rest[0].startswith("-"):
        raise UsageError(f"unsupported interpreter option {rest[0]!r}")
    if not Path(rest[0]).is_file():
        raise UsageError(f"{rest[0]}: no such script")
    return Target(interpreter, "script", rest[0], rest[1:])


def run(command: list[str], steps: int = 5, timeout: float = 600.0, out: str | None = None,
        model: str | None = None, batch: str | None = None, cwd: Path | None = None) -> tuple[Trace, Path]:
    """Run the target for `steps` optimizer steps in a scratch copy of `cwd`; write and return the trace."""
    if steps < 1:
        raise UsageError("--steps must be at least 1")
    if timeout <= 0:
        raise UsageError("--timeout must be positive")
    project = (cwd or Path.cwd()).resolve()
    target = plan(command, model, batch)
    if target.mode == "script" and Path(target.target).is_absolute():
        try:  # run the copy, not the original, so writes next to __file__ land in the scratch copy
            target.target = str(Path(target.target).resolve().relative_to(project))
        except ValueError:
            pass
    out_dir = Path(out) if out else project / TRACE_DIR
    base = Path(tempfile.mkdtemp(prefix="trainaudit-run-"))
    try:
        scratch, sandbox = make_scratch(project, base)
        config = {"mode": target.mode, "target": target.target, "args": target.args, "batch": target.batch,
                  "steps": steps, "project": str(project), "out": str(base / "child-trace.json"),
                  "command": command or ["--model", target.target] + (["--batch", batch] if batch else [])}
        (base / "config.json").write_text(json.dumps(config), encoding="utf-8")
        started = time.perf_counter()
        returncode, timed_out, tail = _child(target.interpreter, base / "config.json", scratch, timeout)
        trace = _collect(base / "child-trace.json", config, returncode, timed_out)
        trace.timeout, trace.duration = timeout, time.perf_counter() - started
        trace.stderr_tail = tail
        if trace.sandbox is not None:  # the child's record of redirected and blocked writes
            sandbox.redirected_writes, sandbox.blocked_writes = (trace.sandbox.redirected_writes,
                                                                 trace.sandbox.blocked_writes)
        trace.sandbox = sandbox
        path = out_dir / TRACE_FILE
        trace.write(path)
        return trace, path
    finally:
        shutil.rmtree(base, ignore_errors=True)


def _child(interpreter: str, config: Path, scratch: Path, timeout: float) -> tuple[int | None, bool, str]:
    env = dict(os.environ)
    src = str(Path(trainaudit.__file__).resolve().parent.parent)  # the child imports this trainaudit
    env["PYTHONPATH"] = os.pathsep.join([src, *filter(None, [env.get("PYTHONPATH")])])
    env["PYTHONUNBUFFERED"] = "1"
    cmd = [interpreter, "-m", "trainaudit.tracer.bootstrap", str(config)]
    proc = subprocess.Popen(cmd, cwd=scratch, env=env, start_new_session=True, stderr=subprocess.PIPE)
    tail: deque[str] = deque(maxlen=40)
    pump = threading.Thread(target=_pump, args=(proc.stderr, tail), daemon=True)
    pump.start()
    timed_out = False
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        timed_out = True
        _signal_group(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=GRACE)
        except subprocess.TimeoutExpired:
            _signal_group(proc.pid, signal.SIGKILL)
            proc.wait()
    _signal_group(proc.pid, signal.SIGKILL)  # DataLoader workers or threads the script left behind
    pump.join(timeout=2.0)
    return proc.returncode, timed_out, "".join(tail)


def _pump(stream, tail: deque) -> None:
    """Pass the child's stderr through live and keep its last lines for the trace."""
    for raw in iter(stream.readline, b""):
        line = raw.decode("utf-8", "replace")
        tail.append(line)
        sys.stderr.write(line)
    stream.close()


def _signal_group(pid: int, sig: int) -> None:
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _collect(path: Path, config: dict, returncode: int | None, timed_out: bool) -> Trace:
    try:
        trace = read_trace(path)
    except TraceError:
        status = "timeout" if timed_out else "no-trace"
        trace = Trace(mode=config["mode"], command=config["command"], project_root=config["project"],
                      status=status, exit_status=returncode, steps_requested=config["steps"])
    if timed_out and trace.status != "timeout":
        trace.status = "timeout"
    if trace.exit_status is None:
        trace.exit_status = returncode
    trace.command = config["command"]
    return trace
