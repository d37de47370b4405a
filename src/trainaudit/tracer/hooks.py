"""The child-side recorder: torch's global module, registration and optimizer hooks plus provenance."""

from __future__ import annotations

import dataclasses
import gc
import math
import os
import time
import weakref
from typing import Any

import torch
from torch.nn.modules import module as nn_module
from torch.optim import optimizer as optim_module

from trainaudit.tracer import sites
from trainaudit.tracer.provenance import DATALIKE, RANDOM, ProvenanceMode, TensorTable, names, standin
from trainaudit.tracer.trace import (
    BackwardRecord,
    DummyInput,
    ModuleRecord,
    OptimizerRecord,
    ParamRecord,
    StepRecord,
    Where,
)

MAX_PENDING = 20_000  # module-call outputs awaiting a backward; bounds memory in loops that never call backward
MAX_DUMMIES = 5
MAX_NAMES = 20
PROBE = 4096  # elements per parameter compared before/after each optimizer step


def _probe(p: torch.Tensor) -> torch.Tensor:
    """A copy of a parameter to compare after the step: whole when small, else PROBE evenly spaced elements.

    An optimizer step moves every element that has a gradient, so a sample sees a change; copying and comparing
    whole multi-million-element tensors every step would dominate the tracer's overhead.
    """
    flat = p.detach().reshape(-1)
    if flat.numel() <= PROBE:
        return flat.clone()
    return flat[:: flat.numel() // PROBE][:PROBE].clone()


class StopRun(BaseException):
    """Raised from the optimizer step post-hook once enough steps were seen; unwinds the script cleanly."""


def _known(ids: dict[int, tuple[weakref.ref, Any]], obj: object) -> Any:
    """The record kept for `obj` itself, not for a dead object whose id was reused; None when unseen."""
    hit = ids.get(id(obj))
    return hit[1] if hit is not None and hit[0]() is obj else None


class Recorder:
    """Collects modules, optimizers, backward passes and steps while the target script runs."""

    def __init__(self, paths: sites.Paths, steps: int) -> None:
        self.paths = paths
        self.steps_wanted = steps
        self.table = TensorTable()
        self.table.on_consume = self._consumed
        self.mode = ProvenanceMode(self.table, self._on_backward, self._on_random, self._on_mixed)
        self.random_sources: dict[tuple[str, int | None], Where] = {}
        self.modules: list[ModuleRecord] = []
        self._mod_ids: dict[int, tuple[weakref.ref, ModuleRecord]] = {}
        self.params: list[ParamRecord] = []
        self._param_ids: dict[int, tuple[weakref.ref, ParamRecord]] = {}
        self.optimizers: list[OptimizerRecord] = []
        self._opt_ids: dict[int, tuple[weakref.ref, OptimizerRecord]] = {}
        self._snapshots: dict[int, list[tuple[torch.Tensor, torch.Tensor]]] = {}
        self.backwards: list[BackwardRecord] = []
        self.steps: list[StepRecord] = []
        self._pending: list[tuple[ModuleRecord, Any]] = []  # (module, output grad_fn) since the last backward
        self._last_loss: float | None = None
        self._t_last = time.perf_counter()
        self.stopping = False
        self._step_busy = False
        self.main_pid = os.getpid()
        self._handles: list[Any] = []
        sites.skip_library(os.path.dirname(torch.__file__))

    # --- installation -----------------------------------------------------------------------------
    def install(self) -> None:
        try:  # the global forward hook sees keyword arguments (the global pre-hook cannot)
            forward = nn_module.register_module_forward_hook(self._on_forward, with_kwargs=True)
        except TypeError:  # torch before 2.0: positional arguments only
            forward = nn_module.register_module_forward_hook(lambda m, a, o: self._on_forward(m, a, {}, o))
        self._handles = [
            nn_module.register_module_parameter_registration_hook(self._on_param),
            nn_module.register_module_buffer_registration_hook(self._on_buffer),
            nn_module.register_module_module_registration_hook(self._on_submodule),
            nn_module.register_module_forward_pre_hook(self._on_forward_pre),
            forward,
            optim_module.register_optimizer_step_pre_hook(self._on_step_pre),
            optim_module.register_optimizer_step_post_hook(self._on_step_post),
        ]
        self.mode.__enter__()

    def uninstall(self) -> None:
        try:
            self.mode.__exit__(None, None, None)
        except Exception:  # noqa: BLE001  the script may have left other modes on the stack
            pass
        for h in self._handles:
            h.remove()
        self._handles = []

    # --- modules ----------------------------------------------------------------------------------
    def module(self, m: torch.nn.Module, site: bool = True) -> ModuleRecord:
        known = _known(self._mod_ids, m)
        if known is not None:
            return known
        cls = type(m)
        defined = sites.class_site(cls)
        rec = ModuleRecord(id=len(self.modules), cls=f"{cls.__module__}.{cls.__qualname__}")
        if defined:
            rec.defined_at = self.paths.where(*defined)
            rec.project = rec.defined_at.in_project
        if site:
            frame = sites.creation_frame(m, 3)
            if frame is not None:
                rec.created_at = self.paths.where(frame.f_code.co_filename, frame.f_lineno)
        self.modules.append(rec)
        self._mod_ids[id(m)] = (weakref.ref(m), rec)
        return rec

    # Registration hooks return None: a returned value would replace the registered tensor or module.
    def _on_param(self, module, name, param):
        rec = self._own(module, name, param)
        if param is not None:
            self._param(param, rec, name)

    def _on_buffer(self, module, name, buffer):
        self._own(module, name, buffer)

    def _own(self, module, name: str, tensor) -> ModuleRecord:
        rec = self.module(module)
        if tensor is not None:
            rec.own = [e for e in rec.own if e[0] != name] + [[name, list(tensor.shape)]]
        return rec

    def _on_submodule(self, module, name, sub):
        parent = self.module(module)
        if sub is None:
            return
        child = self.module(sub)
        if child.parent is None and child is not parent:
            child.parent, child.name = parent.id, name
            parent.children.append(child.id)

    def known_param(self, p: torch.Tensor) -> ParamRecord | None:
        return _known(self._param_ids, p)

    def _param(self, p: torch.Tensor, owner: ModuleRecord | None = None, name: str = "") -> ParamRecord:
        known = _known(self._param_ids, p)
        if known is not None:
            return known
        rec = ParamRecord(module=owner.id if owner else -1, name=name, path=name, numel=p.numel(),
                          requires_grad=p.requires_grad)
        self.params.append(rec)
        self._param_ids[id(p)] = (weakref.ref(p), rec)
        return rec

    def _on_forward_pre(self, module, args):
        if self.stopping and os.getpid() == self.main_pid:
            raise StopRun()
        if self.mode.busy:
            return None
        rec = self.module(module, site=False)
        rec.calls += 1
        if torch.is_grad_enabled():
            rec.calls_with_grad += 1
        return None

    def _scan_inputs(self, rec: ModuleRecord, args: tuple, kwargs: dict) -> None:
        """Input provenance and stand-in arguments; runs after forward, where keyword arguments are visible."""
        found: list[tuple[str, torch.Tensor, int]] = []

        def visit(x: Any, label: str, depth: int) -> None:
            if isinstance(x, torch.Tensor):
                found.append((label, x, self.table.mask(x)))
            elif depth < 2 and isinstance(x, (list, tuple)):
                for i, v in enumerate(x):
                    visit(v, f"{label}[{i}]", depth + 1)
            elif depth < 2 and isinstance(x, dict):
                for k, v in x.items():
                    visit(v, f"{label}[{k!r}]", depth + 1)

        for i, a in enumerate(args):
            visit(a, f"args[{i}]", 0)
        for k, v in kwargs.items():
            visit(v, f"kwargs[{k!r}]", 0)
        union = 0
        for _, _, mask in found:
            union |= mask
        rec.input_provenance = sorted(set(rec.input_provenance) | set(names(union)))
        if not union & DATALIKE or len(rec.dummy_inputs) >= MAX_DUMMIES:
            return
        for label, t, mask in found:  # a stand-in beside real inputs: random/constant features, nothing else
            note: DummyInput | None = self.table.note(t)
            if note is not None:  # torch.cat(data, stand-in): the stand-in part is the dummy input
                if all((d.arg, d.part) != (label, note.part) for d in rec.dummy_inputs):
                    rec.dummy_inputs.append(dataclasses.replace(note, arg=label))
            elif (standin(t, mask) and (rec.project or mask & RANDOM)
                  and all(d.arg != label for d in rec.dummy_inputs)):
                # Constant masks and zero initial states given to library layers (attn_mask=, h0) are by design.
                rec.dummy_inputs.append(DummyInput(label, names(mask), list(t.shape), str(t.dtype)))

    def _on_forward(self, module, args, kwargs, output):
        if self.mode.busy:
            return None
        rec = self.module(module, site=False)
        self.mode.busy += 1  # the recorder's own reads (even `o.grad_fn`) pass through the mode: they use nothing
        try:  # inputs first: a module returning its input (Identity) must not consume its own output
            self._scan_inputs(rec, args, kwargs)
            self._outputs(rec, output)
        finally:
            self.mode.busy -= 1
        return None

    def _outputs(self, rec: ModuleRecord, output: Any) -> None:
        """Mark the call's tensors pending (unused until something reads them) and keep their graph nodes."""
        outs = output if isinstance(output, (list, tuple)) else (
            list(output.values()) if isinstance(output, dict) else (output,))
        tensors = [o for o in outs if isinstance(o, torch.Tensor)]
        if tensors:
            rec.tensor_outputs += 1
        grad_fns = []
        for o in tensors:
            self.table.set_pending(o, rec)
            if o.grad_fn is not None:
                grad_fns.append(o.grad_fn)
        if grad_fns and len(self._pending) < MAX_PENDING:
            self._pending.append((rec, grad_fns))

    def _on_random(self) -> None:
        if len(self.random_sources) >= MAX_NAMES:
            return
        frame = sites.creation_frame(None, 3)
        if frame is not None:
            where = self.paths.where(frame.f_code.co_filename, frame.f_lineno)
            if where.in_project:
                self.random_sources.setdefault((where.path, where.line), where)

    def _on_mixed(self, out: torch.Tensor, part: int, mask: int, t: torch.Tensor) -> None:
        """Remember on a concatenation's output which part was a stand-in, and the project line that joined it."""
        frame = sites.creation_frame(None, 2)
        where = self.paths.where(frame.f_code.co_filename, frame.f_lineno) if frame is not None else None
        self.table.set_note(out, DummyInput("", names(mask), list(t.shape), str(t.dtype), part=part,
                                            where=where if where is not None and where.in_project else None))

    def _consumed(self, rec: ModuleRecord) -> None:
        rec.outputs_consumed += 1

    # --- backward ---------------------------------------------------------------------------------
    def _on_backward(self, loss: torch.Tensor) -> None:
        self.mode.busy += 1
        try:
            value = float(loss.detach().float().mean()) if loss.numel() else None
            finite = value is not None and math.isfinite(value)
            reached: set[int] = set()
            params: list[ParamRecord] = []
            stack = [loss.grad_fn] if loss.grad_fn is not None else []
            while stack:
                node = stack.pop()
                if id(node) in reached:
                    continue
                reached.add(id(node))
                var = getattr(node, "variable", None)
                if var is not None and (known := _known(self._param_ids, var)) is not None:
                    params.append(known)
                stack.extend(n for n, _ in node.next_functions if n is not None)
            for p in params:
                p.backwards_reached += 1
            for rec, grad_fns in self._pending:
                if any(id(g) in reached for g in grad_fns):
                    rec.outputs_reaching_loss += 1
            self._pending.clear()
            self._last_loss = value
            self.backwards.append(BackwardRecord(
                index=len(self.backwards) + 1, after_steps=len(self.steps), loss=value if finite else None,
                finite=finite, provenance=names(self.table.peek(loss)), params_reached=len(params),
                modules_reached=sorted({p.module for p in params})))
        finally:
            self.mode.busy -= 1

    # --- optimizers -------------------------------------------------------------------------------
    def optimizer(self, opt: torch.optim.Optimizer) -> OptimizerRecord:
        known = _known(self._opt_ids, opt)
        if known is not None:
            return known
        held = [p for g in opt.param_groups for p in g["params"]]
        lr = opt.param_groups[0].get("lr") if opt.param_groups else None
        rec = OptimizerRecord(id=len(self.optimizers), cls=f"{type(opt).__module__}.{type(opt).__qualname__}",
                              params=len(held), param_groups=len(opt.param_groups),
                              lr=float(lr) if isinstance(lr, (int, float)) else None)
        for p in held:
            self._param(p).optimizers.append(rec.id)
        self.optimizers.append(rec)
        self._opt_ids[id(opt)] = (weakref.ref(opt), rec)
        return rec

    def _held(self, opt) -> list[torch.Tensor]:
        return [p for g in opt.param_groups for p in g["params"] if p.requires_grad]

    def _on_step_pre(self, opt, args, kwargs):
        if os.getpid() != self.main_pid:
            return
        if self.stopping:
            raise StopRun()
        if self._step_busy:  # the previous step raised before its post-hook ran
            self.mode.busy -= 1
            self._step_busy = False
        self.mode.busy += 1
        try:
            rec = self.optimizer(opt)
            self._snapshots[rec.id] = [(p, _probe(p)) for p in self._held(opt)]
        finally:
            self.mode.busy -= 1
        if (args[0] if args else kwargs.get("closure")) is None:
            # The optimizer's own arithmetic tells nothing about provenance: let it run unobserved. With a
            # closure (Lightning) the forward and backward run inside step(), so the mode stays on.
            self.mode.busy += 1
            self._step_busy = True

    def _on_step_post(self, opt, args, kwargs):
        if os.getpid() != self.main_pid:
            return
        if self._step_busy:
            self.mode.busy -= 1
            self._step_busy = False
        self.mode.busy += 1
        try:
            rec = self.optimizer(opt)
            rec.steps += 1
            step = StepRecord(index=len(self.steps) + 1, optimizer=rec.id, optimizer_step=rec.steps,
                              loss=self._last_loss, seconds=0.0, params_with_grad=0, params_nonzero_grad=0)
            with_grad = [p for p in self._held(opt) if p.grad is not None and not p.grad.is_sparse]
            norms = [float(n) for n in torch._foreach_norm([p.grad for p in with_grad])] if with_grad else []
            step.params_with_grad = len(with_grad)
            for p, n in zip(with_grad, norms, strict=True):
                prec = self._param(p)
                if not math.isfinite(n):
                    prec.nonfinite_grad_steps += 1
                    if len(step.nonfinite_grads) < MAX_NAMES:
                        step.nonfinite_grads.append(self._pname(prec))
                elif n > 0:
                    prec.nonzero_grad_steps += 1
                    step.params_nonzero_grad += 1
            grads = {id(p) for p in with_grad}
            for p, before in self._snapshots.pop(rec.id, []):
                if not torch.equal(before, _probe(p)):
                    self._param(p).changed_steps += 1
                    step.params_changed += 1
                elif id(p) in grads and len(step.unchanged_with_grad) < MAX_NAMES:
                    step.unchanged_with_grad.append(self._pname(self._param(p)))
            now = time.perf_counter()
            step.seconds, self._t_last = now - self._t_last, now
            self.steps.append(step)
        finally:
            self.mode.busy -= 1
        counts = [o.steps for o in self.optimizers if o.steps]
        if min(counts) >= self.steps_wanted or max(counts) >= 2 * self.steps_wanted:
            self.stopping = True
            raise StopRun()

    def _pname(self, p: ParamRecord) -> str:
        owner = self.modules[p.module] if p.module >= 0 else None
        return f"{owner.cls.rsplit('.', 1)[-1]}.{p.name}" if owner else p.name

    # --- the end of the run -------------------------------------------------------------------------
    def finish(self) -> None:
        """Find modules and optimizers never hooked (built, never called), then fill structure and signatures."""
        self.mode.busy += 1
        try:
            live: list[tuple[torch.nn.Module, ModuleRecord]] = []
            module_t, optim_t = torch.nn.Module, torch.optim.Optimizer
            for obj in gc.get_objects():
                t = type(obj)  # type(), not isinstance(): some lazy objects warn when asked for __class__
                if issubclass(t, module_t):
                    live.append((obj, self.module(obj, site=False)))
                elif issubclass(t, optim_t):
                    self.optimizer(obj)
            for m, rec in live:
                for name, child in m.named_children():
                    crec = self.module(child, site=False)
                    if crec.parent is None and crec is not rec:
                        crec.parent, crec.name = rec.id, name
                        rec.children.append(crec.id)
                for name, p in m.named_parameters(recurse=False):
                    prec = self._param(p, rec, name)
                    if prec.module < 0:
                        prec.module, prec.name = rec.id, name
                    prec.requires_grad = p.requires_grad
            self._paths()
            owned: dict[int, set[int]] = {}
            for m, rec in live:
                try:
                    ps = list(m.parameters())
                    rec.params = sum(p.numel() for p in ps)
                    rec.trainable = sum(p.numel() for p in ps if p.requires_grad)
                    owned[rec.id] = {id(p) for p in ps}
                    rec.own = [[k, list(v.shape)] for k, v in [*m.named_parameters(recurse=False),
                                                               *m.named_buffers(recurse=False)] if v is not None]
                    if rec.parent is None or rec.project:
                        rec.state_dict = [[k, list(v.shape) if hasattr(v, "shape") else None]
                                          for k, v in m.state_dict().items()]
                except Exception:  # noqa: BLE001  a module with a broken state_dict still gets a record
                    continue
            self._optimizer_modules(owned)
        finally:
            self.mode.busy -= 1

    def _paths(self) -> None:
        for rec in self.modules:
            chain, cur, seen = [], rec, set()
            while cur is not None and cur.id not in seen:
                seen.add(cur.id)
                chain.append(cur.name if cur.parent is not None else cur.cls.rsplit(".", 1)[-1])
                cur = self.modules[cur.parent] if cur.parent is not None else None
            rec.path = ".".join(reversed(chain))
        for p in self.params:
            if p.module >= 0:
                p.path = f"{self.modules[p.module].path}.{p.name}"

    def _optimizer_modules(self, owned: dict[int, set[int]]) -> None:
        for orec in self.optimizers:
            held = {pid for pid, (ref, prec) in self._param_ids.items()
                    if orec.id in prec.optimizers and ref() is not None}
            if not held:
                continue
            inside = [mid for mid, ps in owned.items() if ps and ps <= held]
            top = [mid for mid in inside if self.modules[mid].parent not in inside]
            orec.modules = sorted(top)
            covering = [mid for mid, ps in owned.items() if held <= ps]
            if covering:
                orec.covers = min(covering, key=lambda mid: (len(owned[mid]), -mid))
