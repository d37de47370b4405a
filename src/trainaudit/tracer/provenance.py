"""Tensor provenance: a TorchFunctionMode marks tensors data/random/constant/model in a weakref side table."""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import Any

import torch
from torch.overrides import TorchFunctionMode

DATA, RANDOM, CONSTANT, MODEL, EXTERNAL = 1, 2, 4, 8, 16
NAMES = {DATA: "data", RANDOM: "random", CONSTANT: "constant", MODEL: "model", EXTERNAL: "external"}
DATALIKE = DATA | EXTERNAL  # external: a tensor torch never built in sight (torch.load, worker, unpickled)
SMALL_LITERAL = 64  # torch.tensor([...]) of at most this many Python numbers is a constant, larger is data

T = torch.Tensor
RANDOM_FACTORIES = {torch.randn, torch.rand, torch.randint, torch.randn_like, torch.rand_like, torch.randint_like,
                    torch.normal, torch.randperm, torch.bernoulli, torch.multinomial, torch.poisson}
RANDOM_INPLACE = {T.normal_, T.uniform_, T.random_, T.bernoulli_, T.exponential_, T.cauchy_, T.log_normal_,
                  T.geometric_}
CONSTANT_FACTORIES = {torch.zeros, torch.ones, torch.full, torch.empty, torch.zeros_like, torch.ones_like,
                      torch.full_like, torch.empty_like, torch.arange, torch.linspace, torch.logspace, torch.eye}
CONVERSIONS = {torch.tensor, torch.as_tensor, torch.asarray, torch.from_numpy}
BACKWARD = {T.backward, torch.autograd.backward}
CONCAT = {f for f in (getattr(torch, n, None) for n in ("cat", "concat", "concatenate", "stack", "hstack", "vstack",
                                                       "column_stack")) if f is not None}
STANDIN = RANDOM | CONSTANT


def names(mask: int) -> list[str]:
    return [n for bit, n in NAMES.items() if mask & bit]


def _literal_size(value: Any, limit: int) -> int:
    """Python numbers in a (nested) list, counting up to `limit`; -1 when it holds anything else."""
    if isinstance(value, (bool, int, float, complex)):
        return 1
    if isinstance(value, (list, tuple)):
        total = 0
        for v in value:
            n = _literal_size(v, limit)
            if n < 0:
                return -1
            total += n
            if total > limit:
                break
        return total
    return -1


def _conversion_mask(args: tuple) -> int:
    if not args:
        return CONSTANT
    n = _literal_size(args[0], SMALL_LITERAL)
    return CONSTANT if 0 <= n <= SMALL_LITERAL else DATA


class _Ref(weakref.ref):
    __slots__ = ("key",)


def standin(t: torch.Tensor, mask: int) -> bool:
    """A tensor that stands in for features: float, at least 2-D, built only from random factories/constants."""
    return bool(mask & STANDIN) and not mask & (DATALIKE | MODEL) and t.is_floating_point() and t.dim() >= 2


class TensorTable:
    """id(tensor) -> [ref, mask, pending-call, note]; entries vanish with their tensor, so ids are never stale.

    `note` is set on the output of a concatenation that joined data with a stand-in part (see ProvenanceMode).
    """

    def __init__(self) -> None:
        self.entries: dict[int, list] = {}
        self.on_consume: Callable[[Any], None] = lambda call: None

    def _drop(self, ref: _Ref) -> None:
        entry = self.entries.get(ref.key)
        if entry is not None and entry[0] is ref:
            del self.entries[ref.key]

    def mask(self, t: torch.Tensor) -> int:
        """The provenance of one input; using it consumes a pending module output."""
        entry = self.entries.get(id(t))
        if entry is not None:
            if entry[2] is not None:
                for call in entry[2]:
                    self.on_consume(call)
                entry[2] = None
            return entry[1]
        if isinstance(t, torch.nn.Parameter):
            return MODEL
        return EXTERNAL

    def peek(self, t: torch.Tensor) -> int:
        entry = self.entries.get(id(t))
        return entry[1] if entry is not None else (MODEL if isinstance(t, torch.nn.Parameter) else EXTERNAL)

    def set(self, t: torch.Tensor, mask: int) -> None:
        key = id(t)
        entry = self.entries.get(key)
        if entry is not None:
            entry[1] = mask
            return
        ref = _Ref(t, self._drop)
        ref.key = key
        self.entries[key] = [ref, mask, None, None]

    def note(self, t: torch.Tensor) -> Any:
        entry = self.entries.get(id(t))
        return entry[3] if entry is not None else None

    def set_note(self, t: torch.Tensor, note: Any) -> None:
        if id(t) not in self.entries:
            self.set(t, self.peek(t))
        self.entries[id(t)][3] = note

    def set_pending(self, t: torch.Tensor, call: Any) -> None:
        """A module returned `t`; the call counts as consumed once anything uses `t` (a parent may return it too)."""
        key = id(t)
        if key not in self.entries:
            self.set(t, self.peek(t))
        entry = self.entries[key]
        entry[2] = [*(entry[2] or ()), call]

    def inputs(self, args: tuple, kwargs: dict | None) -> int:
        mask = 0
        for a in args:
            if isinstance(a, torch.Tensor):
                mask |= self.mask(a)
            elif type(a) in (list, tuple):
                for b in a:
                    if isinstance(b, torch.Tensor):
                        mask |= self.mask(b)
        if kwargs:
            for a in kwargs.values():
                if isinstance(a, torch.Tensor):
                    mask |= self.mask(a)
        return mask


class ProvenanceMode(TorchFunctionMode):
    """Sees every torch call: propagates masks, stamps factories, reports `backward()` to the recorder."""

    def __init__(self, table: TensorTable, on_backward: Callable[[torch.Tensor], None],
                 on_random: Callable[[], None] = lambda: None,
                 on_mixed: Callable[[torch.Tensor, int, int, torch.Tensor], None] | None = None) -> None:
        super().__init__()
        self.table = table
        self.on_backward = on_backward
        self.on_random = on_random
        self.on_mixed = on_mixed  # (output, part index, part mask, part): data joined with a stand-in
        self.busy = 0  # >0 while the recorder itself computes: pass straight through

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if self.busy:
            return func(*args, **kwargs)
        if func in BACKWARD:
            loss = args[0] if args else kwargs.get("tensors", kwargs.get("self"))
            if isinstance(loss, (list, tuple)):
                loss = loss[0] if loss else None
            if isinstance(loss, torch.Tensor):
                self.on_backward(loss)
            return func(*args, **kwargs)
        mask = self.table.inputs(args, kwargs)
        out = func(*args, **kwargs)
        if func in RANDOM_FACTORIES:
            mask = RANDOM
            self.on_random()
        elif func in CONSTANT_FACTORIES:
            mask = CONSTANT
        elif func in CONVERSIONS:
            mask = _conversion_mask(args)
        elif func in RANDOM_INPLACE:
            mask = RANDOM
        elif not mask:
            mask = CONSTANT  # built from Python values only
        if isinstance(out, torch.Tensor):
            self.table.set(out, mask)
            if func in CONCAT and mask & DATALIKE and mask & STANDIN and self.on_mixed is not None:
                self._mixed(out, args[0] if args else kwargs.get("tensors", ()))
        elif type(out) in (tuple, list):
            for o in out:
                if isinstance(o, torch.Tensor):
                    self.table.set(o, mask)
        elif out is None and args and isinstance(args[0], torch.Tensor):  # __setitem__ and friends
            self.table.set(args[0], mask)
        return out

    def _mixed(self, out: torch.Tensor, parts: Any) -> None:
        """A concatenation of data-derived parts with a purely random/constant one: a stand-in smuggled in."""
        if type(parts) not in (list, tuple):
            return
        masks = [self.table.peek(p) if isinstance(p, torch.Tensor) else 0 for p in parts]
        if not any(m & DATALIKE for m in masks):
            return
        for i, (p, m) in enumerate(zip(parts, masks, strict=True)):
            if isinstance(p, torch.Tensor) and standin(p, m):
                self.busy += 1
                try:
                    self.on_mixed(out, i, m, p)
                finally:
                    self.busy -= 1
                return
