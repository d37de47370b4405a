"""Metric logging and torch.save calls. None of these has a hook, so each is wrapped (listed in the trace)."""

from __future__ import annotations

import importlib.abc
import importlib.util
import io
import os
import re
import sys
from collections.abc import Callable, Mapping
from typing import Any

import torch

from trainaudit.tracer import sites
from trainaudit.tracer.hooks import Recorder
from trainaudit.tracer.trace import LogCall, SaveCall

MAX_LOGS = 2000
_PRINTED = re.compile(r"([A-Za-z][\w/.\-]*)\s*[:=]?\s*(-?\d+\.\d+(?:[eE][-+]?\d+)?|-?\d+[eE][-+]?\d+|nan|inf)\b")


def _number(v: Any) -> float | None:
    try:
        return float(v.detach().float().mean()) if isinstance(v, torch.Tensor) else float(v)
    except (TypeError, ValueError, RuntimeError):
        return None


class Calls:
    """Records log and save calls into the recorder's run, wrapping only APIs that offer no hook."""

    def __init__(self, recorder: Recorder) -> None:
        self.rec = recorder
        self.logs: list[LogCall] = []
        self.dropped = 0
        self.saves: list[SaveCall] = []
        self.notes: list[str] = []

    def log(self, kind: str, tag: Any, value: Any) -> None:
        if os.getpid() != self.rec.main_pid:
            return
        if len(self.logs) >= MAX_LOGS:
            self.dropped += 1
            return
        self.rec.mode.busy += 1
        try:
            self.logs.append(LogCall(kind, str(tag), _number(value), len(self.rec.steps)))
        finally:
            self.rec.mode.busy -= 1

    # --- installation -----------------------------------------------------------------------------
    def install(self) -> None:
        self._wrap_save()
        for name in _TARGETS:
            if name in sys.modules:
                self.patch(name, sys.modules[name])
        sys.meta_path.insert(0, _ImportWatcher(self))
        sys.stdout = _Tee(sys.stdout, self._printed)
        self.notes.append("sys.stdout is teed to catch printed metrics (print has no hook)")

    def uninstall(self) -> None:
        if isinstance(sys.stdout, _Tee):
            sys.stdout.flush()
            sys.stdout = sys.stdout.stream

    def _printed(self, line: str) -> None:
        for tag, value in _PRINTED.findall(line):
            self.log("print", tag, value)

    def patch(self, name: str, module: Any) -> None:
        for owner_name, attr, kind, read in _TARGETS[name]:
            owner = module
            for part in owner_name.split(".") if owner_name else ():
                owner = getattr(owner, part, None)
            original = getattr(owner, attr, None) if owner is not None else None
            if original is None or getattr(original, "_trainaudit", False):
                continue
            setattr(owner, attr, self._wrapper(original, kind, read))
            self.notes.append(f"wrapped {name}.{owner_name + '.' if owner_name else ''}{attr} (no hook exists)")

    def _wrapper(self, original: Callable, kind: str, read: Callable) -> Callable:
        def wrapper(*args, **kwargs):
            try:
                for tag, value in read(args, kwargs):
                    self.log(kind, tag, value)
            except Exception:  # noqa: BLE001  recording must never break the user's logging call
                pass
            return original(*args, **kwargs)

        wrapper._trainaudit = True  # type: ignore[attr-defined]
        wrapper.__wrapped__ = original  # type: ignore[attr-defined]
        return wrapper

    # --- torch.save -------------------------------------------------------------------------------
    def _wrap_save(self) -> None:
        original = torch.save

        def save(obj, f, *args, **kwargs):
            try:
                self._record_save(obj, f)
            except Exception:  # noqa: BLE001
                pass
            return original(obj, f, *args, **kwargs)

        save.__wrapped__ = original  # type: ignore[attr-defined]
        torch.save = save
        self.notes.append("wrapped torch.save (torch has no save hook)")

    def _record_save(self, obj: Any, f: Any) -> None:
        if os.getpid() != self.rec.main_pid:
            return
        self.rec.mode.busy += 1
        try:
            path = os.fspath(f) if isinstance(f, (str, bytes, os.PathLike)) else f"<{type(f).__name__}>"
            if isinstance(path, bytes):
                path = os.fsdecode(path)
            target = self.rec.paths.where(os.path.abspath(path), None).path if not path.startswith("<") else path
            what, found, keys = "other", None, 0
            if isinstance(obj, torch.nn.Module):
                what, found, keys = "module", obj, len(obj.state_dict())
            elif isinstance(obj, Mapping):
                sd = obj
                if not _is_state_dict(obj):
                    what = "checkpoint-dict"
                    sd = next((v for k, v in obj.items() if k in ("state_dict", "model", "model_state_dict",
                                                                 "model_state", "net") and isinstance(v, Mapping)),
                              {})
                else:
                    what = "state_dict"
                keys = len(sd)
                found = self._match(sd) if sd else None
            frame = sites.creation_frame(None, 2)
            site = self.rec.paths.where(frame.f_code.co_filename, frame.f_lineno) if frame is not None else None
            call = SaveCall(target, what, None, keys, len(self.rec.steps),
                            where=site if site is not None and site.in_project else None)
            if found is not None:
                call.module = self.rec.module(found, site=False).id
                # The saved state as of now: which trainable tensors an optimizer step had already changed.
                ps = [p for p in found.parameters() if p.requires_grad]
                call.params = len(ps)
                call.params_changed = sum(1 for p in ps if (known := self.rec.known_param(p)) is not None
                                          and known.changed_steps > 0)
            self.saves.append(call)
        finally:
            self.rec.mode.busy -= 1

    def _match(self, sd: Mapping) -> torch.nn.Module | None:
        """The live module whose state_dict has exactly these keys (a saved state_dict is detached copies)."""
        want = set(sd)
        first = None
        for ref, rec in list(self.rec._mod_ids.values()):
            m = ref()
            if m is not None and len(rec.own) <= len(want):
                try:
                    own = m.state_dict()
                    if set(own) != want:
                        continue
                    if all(_same_storage(own[k], sd[k]) for k in want):
                        return m  # the very tensors (state_dict() detaches without copying)
                    first = first or m
                except Exception:  # noqa: BLE001
                    continue
        return first


def _same_storage(a: Any, b: Any) -> bool:
    return isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor) and a.data_ptr() == b.data_ptr()


def _is_state_dict(obj: Mapping) -> bool:
    return bool(obj) and all(isinstance(v, torch.Tensor) for v in obj.values())


def _scalar(args, kwargs):  # add_scalar(self, tag, value, ...)
    yield kwargs.get("tag", args[1] if len(args) > 1 else "?"), kwargs.get("scalar_value", args[2] if len(args) > 2
                                                                           else None)


def _scalars(args, kwargs):  # add_scalars(self, main_tag, {tag: value}, ...)
    main = kwargs.get("main_tag", args[1] if len(args) > 1 else "")
    for k, v in dict(kwargs.get("tag_scalar_dict", args[2] if len(args) > 2 else {})).items():
        yield f"{main}/{k}", v


def _method_name_value(args, kwargs):  # LightningModule.log(self, name, value, ...)
    yield kwargs.get("name", args[1] if len(args) > 1 else "?"), kwargs.get("value", args[2] if len(args) > 2
                                                                             else None)


def _method_dict(args, kwargs):  # log_dict(self, dictionary, ...) / wandb Run.log(self, data, ...)
    data = args[1] if len(args) > 1 else kwargs.get("dictionary", kwargs.get("data", {}))
    yield from dict(data).items()


def _fn_key_value(args, kwargs):  # mlflow.log_metric(key, value, ...)
    yield kwargs.get("key", args[0] if args else "?"), kwargs.get("value", args[1] if len(args) > 1 else None)


def _fn_dict(args, kwargs):  # mlflow.log_metrics({key: value})
    yield from dict(args[0] if args else kwargs.get("metrics", {})).items()


_WRITER = [("SummaryWriter", "add_scalar", "tensorboard", _scalar),
           ("SummaryWriter", "add_scalars", "tensorboard", _scalars)]
_LIGHTNING = [("LightningModule", "log", "lightning", _method_name_value),
              ("LightningModule", "log_dict", "lightning", _method_dict)]
_TARGETS: dict[str, list[tuple[str, str, str, Callable]]] = {
    "torch.utils.tensorboard.writer": _WRITER,
    "tensorboardX.writer": _WRITER,
    "lightning.pytorch.core.module": _LIGHTNING,
    "pytorch_lightning.core.module": _LIGHTNING,
    "mlflow": [("", "log_metric", "mlflow", _fn_key_value), ("", "log_metrics", "mlflow", _fn_dict)],
    "wandb.sdk.wandb_run": [("Run", "log", "wandb", _method_dict)],
}


class _ImportWatcher(importlib.abc.MetaPathFinder):
    """Patches a logging library right after it is first imported, so unused libraries are never loaded."""

    def __init__(self, calls: Calls) -> None:
        self.calls = calls
        self.busy: set[str] = set()

    def find_spec(self, name, path=None, target=None):
        if name not in _TARGETS or name in self.busy:
            return None
        self.busy.add(name)
        try:
            spec = importlib.util.find_spec(name)
        finally:
            self.busy.discard(name)
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return None
        loader, calls = spec.loader, self.calls

        class _Loader(importlib.abc.Loader):
            def create_module(self, spec):
                return loader.create_module(spec)

            def exec_module(self, module):
                loader.exec_module(module)
                calls.patch(name, module)

        spec.loader = _Loader()
        return spec


class _Tee(io.TextIOBase):
    """Passes writes through unchanged and hands each complete line to a sink."""

    def __init__(self, stream: Any, sink: Callable[[str], None]) -> None:
        self.stream = stream
        self.sink = sink
        self._buf = ""

    def write(self, s: str) -> int:
        self._buf += s
        if "\n" in self._buf:
            *lines, self._buf = self._buf.split("\n")
            for line in lines:
                self.sink(line)
        return self.stream.write(s)

    def flush(self) -> None:
        self.stream.flush()

    def isatty(self) -> bool:
        return self.stream.isatty()

    def fileno(self) -> int:
        return self.stream.fileno()

    @property
    def encoding(self):  # type: ignore[override]
        return self.stream.encoding
