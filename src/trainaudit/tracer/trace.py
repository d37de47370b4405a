"""The run trace schema (version 2): plain dataclasses, JSON in and out, no torch needed to read it."""

from __future__ import annotations

import dataclasses
import json
import math
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from trainaudit.atomic import write_text_atomic

SCHEMA = "trainaudit-trace"
SCHEMA_VERSION = 2
READABLE_VERSIONS = (1, 2)  # version 1 lacks the fields added in 2; their defaults stand in
TRACE_DIR = ".trainaudit"
TRACE_FILE = "trace.json"

# Run outcomes; see docs/trace-schema.md.
STATUSES = ("completed", "stopped", "exit", "exception", "interrupted", "timeout", "no-trace")


class TraceError(Exception):
    """A trace file that cannot be used: unreadable, not JSON, wrong schema or version, malformed."""


@dataclass
class Where:
    """A file and line; `path` is relative to the project root when the file is inside it."""

    path: str
    line: int | None = None
    in_project: bool = False

    def __str__(self) -> str:
        return f"{self.path}:{self.line}" if self.line is not None else self.path


@dataclass
class ParamRecord:
    module: int  # id of the owning ModuleRecord
    name: str  # the attribute name in its module, e.g. "weight"
    path: str  # dotted from the root module, e.g. "Fusion.head.weight"
    numel: int
    requires_grad: bool
    optimizers: list[int] = field(default_factory=list)
    backwards_reached: int = 0  # backward passes whose graph reached this parameter
    nonzero_grad_steps: int = 0  # optimizer steps at which it held a non-zero, finite gradient
    nonfinite_grad_steps: int = 0
    changed_steps: int = 0  # optimizer steps (of an optimizer holding it) after which its value differed


@dataclass
class DummyInput:
    """A module argument whose every source is a random factory or a constant."""

    arg: str  # "args[1]", "args[0]['text']", "kwargs['z']"
    provenance: list[str]
    shape: list[int]
    dtype: str
    part: int | None = None  # the argument is a torch.cat of data and this random/constant part (its index)
    where: Where | None = None  # the project line of that torch.cat


@dataclass
class ModuleRecord:
    id: int
    cls: str  # "package.module.ClassName"
    defined_at: Where | None = None  # the class statement
    created_at: Where | None = None  # the first project frame that instantiated it
    project: bool = False  # the class is defined inside the project
    parent: int | None = None
    name: str = ""  # attribute name in the parent
    path: str = ""  # dotted path from its root module
    children: list[int] = field(default_factory=list)
    params: int = 0  # elements, recursive
    trainable: int = 0  # elements with requires_grad, recursive
    own: list[list[Any]] = field(default_factory=list)  # [key, shape] of its direct parameters and buffers
    state_dict: list[list[Any]] | None = None  # [key, shape], full signature (roots and project classes only)
    calls: int = 0
    calls_with_grad: int = 0  # calls made while autograd was recording
    input_provenance: list[str] = field(default_factory=list)
    dummy_inputs: list[DummyInput] = field(default_factory=list)
    tensor_outputs: int = 0  # calls that returned at least one tensor
    outputs_consumed: int = 0  # calls whose output some later op or module used
    outputs_reaching_loss: int = 0  # calls whose output lies on the autograd graph of a backward pass


@dataclass
class OptimizerRecord:
    id: int
    cls: str
    params: int  # tensors held
    param_groups: int
    lr: float | None
    modules: list[int] = field(default_factory=list)  # the highest modules whose parameters it holds entirely
    covers: int | None = None  # the smallest module holding all its parameters
    steps: int = 0


@dataclass
class BackwardRecord:
    index: int
    after_steps: int  # optimizer steps completed before this backward
    loss: float | None
    finite: bool
    provenance: list[str]
    params_reached: int
    modules_reached: list[int] = field(default_factory=list)  # owners of the parameters reached


@dataclass
class StepRecord:
    index: int  # 1-based over all optimizer steps of the run
    optimizer: int
    optimizer_step: int  # 1-based per optimizer
    loss: float | None  # the loss of the last backward before this step
    seconds: float  # wall time since the previous step ended (or since the run started)
    params_with_grad: int
    params_nonzero_grad: int
    nonfinite_grads: list[str] = field(default_factory=list)
    params_changed: int = 0
    unchanged_with_grad: list[str] = field(default_factory=list)


@dataclass
class LogCall:
    kind: str  # tensorboard | lightning | mlflow | wandb | print
    tag: str
    value: float | None
    after_steps: int


@dataclass
class SaveCall:
    path: str
    what: str  # module | state_dict | checkpoint-dict | other
    module: int | None  # the traced module whose state it holds, when recognised
    keys: int
    after_steps: int
    where: Where | None = None  # the project line that called torch.save
    params: int = 0  # trainable parameter tensors of `module`
    params_changed: int = 0  # of them, those an optimizer step had changed before this save


@dataclass
class ExceptionInfo:
    type: str
    message: str
    traceback: list[str]
    where: Where | None = None  # innermost frame inside the project


@dataclass
class Sandbox:
    scratch: str
    copied_files: int = 0
    linked: list[str] = field(default_factory=list)  # large files and folders linked, not copied
    excluded: list[str] = field(default_factory=list)
    redirected_writes: list[str] = field(default_factory=list)  # links broken so a write lands in the copy
    blocked_writes: list[str] = field(default_factory=list)  # writes aimed at the original project, refused


@dataclass
class SmokeRecord:
    model: str
    batch: str | None
    loss_kind: str
    output_shape: list[int]
    losses: list[float]
    loss_fell: bool
    expected_initial: float | None
    plausible_initial: bool | None
    params: int
    params_with_grad: int


@dataclass
class Trace:
    mode: str  # script | module | smoke
    command: list[str]
    project_root: str
    status: str
    schema: str = SCHEMA
    version: int = SCHEMA_VERSION
    exit_status: int | None = None
    steps_requested: int = 5
    timeout: float | None = None
    duration: float = 0.0
    peak_rss_kb: int | None = None
    cuda_peak_bytes: int | None = None
    exception: ExceptionInfo | None = None
    hung_at: list[str] = field(default_factory=list)  # the stack when a timeout stopped the run
    modules: list[ModuleRecord] = field(default_factory=list)
    parameters: list[ParamRecord] = field(default_factory=list)
    optimizers: list[OptimizerRecord] = field(default_factory=list)
    backwards: list[BackwardRecord] = field(default_factory=list)
    steps: list[StepRecord] = field(default_factory=list)
    random_sources: list[Where] = field(default_factory=list)  # project lines that called random factories
    logs: list[LogCall] = field(default_factory=list)
    logs_dropped: int = 0
    saves: list[SaveCall] = field(default_factory=list)
    sandbox: Sandbox | None = None
    instrumentation: list[str] = field(default_factory=list)  # what was hooked, and what had to be wrapped
    smoke: SmokeRecord | None = None
    stderr_tail: str = ""
    sources: dict[str, str] = field(default_factory=dict)  # project file the run imported -> sha256 (version 2)

    def to_json(self) -> str:
        return json.dumps(_finite(dataclasses.asdict(self)), indent=1, allow_nan=False, default=str) + "\n"

    def write(self, path: Path) -> None:
        """Whole or not at all (see trainaudit.atomic)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        write_text_atomic(path, self.to_json())

    def module(self, mid: int | None) -> ModuleRecord | None:
        if mid is None or not 0 <= mid < len(self.modules):
            return None
        return self.modules[mid]


def _finite(value: Any) -> Any:
    """NaN and infinity become null (strict JSON); `finite` flags and counters keep the fact."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


def _build(tp: Any, data: Any, where: str) -> Any:
    """Rebuild a value of type `tp` from JSON, checking shapes; raises TraceError on mismatch."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if data is None:
            return None
        return _build(args[0], data, where)
    if origin is dict:
        if not isinstance(data, dict):
            raise TraceError(f"{where}: expected an object")
        _, value = typing.get_args(tp) or (str, Any)
        return {str(k): _build(value, v, f"{where}[{k!r}]") for k, v in data.items()}
    if origin is list:
        if not isinstance(data, list):
            raise TraceError(f"{where}: expected a list")
        (item,) = typing.get_args(tp) or (Any,)
        return [_build(item, v, f"{where}[{i}]") for i, v in enumerate(data)]
    if dataclasses.is_dataclass(tp):
        if not isinstance(data, dict):
            raise TraceError(f"{where}: expected an object")
        hints = typing.get_type_hints(tp)
        kwargs = {}
        for f in dataclasses.fields(tp):
            if f.name in data:
                kwargs[f.name] = _build(hints[f.name], data[f.name], f"{where}.{f.name}")
            elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise TraceError(f"{where}: missing field '{f.name}'")
        return tp(**kwargs)
    if tp is float:
        if isinstance(data, bool) or not isinstance(data, (int, float)):
            raise TraceError(f"{where}: expected a number")
        return float(data)
    if tp in (int, str, bool):
        if not isinstance(data, tp) or (tp is int and isinstance(data, bool)):
            raise TraceError(f"{where}: expected {tp.__name__}")
        return data
    return data  # Any


def trace_from_dict(data: Any) -> Trace:
    if not isinstance(data, dict) or data.get("schema") != SCHEMA:
        raise TraceError("not a trainaudit trace (no 'schema': 'trainaudit-trace')")
    if data.get("version") not in READABLE_VERSIONS:
        raise TraceError(f"trace schema version {data.get('version')!r}; this trainaudit reads versions "
                         f"{', '.join(map(str, READABLE_VERSIONS))} (re-run `trainaudit run`)")
    trace = _build(Trace, data, "trace")
    if trace.status not in STATUSES:
        raise TraceError(f"trace.status: unknown status {trace.status!r}")
    return trace


def read_trace(path: Path) -> Trace:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise TraceError(f"cannot read: {exc.strerror}") from None
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise TraceError(f"not valid JSON: {exc}") from None
    return trace_from_dict(data)
