"""Plain records a checkpoint reader produces: tensors, storages, unsafe globals, problems."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# Nesting keys under which training code stores the model's weights, most specific first.
MODEL_KEYS = ("state_dict", "model_state_dict", "model_state", "model", "net", "network", "module",
              "ema", "model_ema", "ema_state_dict", "params", "weights")
OPTIMIZER_KEYS = ("optimizer", "optimizer_states", "optimizer_state_dict", "optim", "opt", "lr_schedulers",
                  "scheduler", "scaler")


@dataclass(frozen=True)
class StorageRef:
    """A storage named by a pickle's persistent id; the data itself is not read."""

    key: str
    dtype: str  # torch dtype name without the "torch." prefix
    itemsize: int
    location: str
    numel: int  # elements of the storage's dtype

    @property
    def nbytes(self) -> int:
        return self.numel * self.itemsize


@dataclass
class TensorInfo:
    """One tensor: where it sits in the checkpoint, what it is, and where its bytes are."""

    name: str  # dotted path inside the checkpoint object, e.g. "state_dict.fc.weight"
    nest: tuple[str, ...] = ()  # container keys above the tensor's own key, e.g. ("state_dict",)
    key: str = ""  # the key in its own container, e.g. "fc.weight"
    dtype: str = ""
    shape: tuple[int, ...] = ()
    itemsize: int = 0
    file: Path | None = None  # the file holding the bytes (a shard for sharded models)
    byte_offset: int | None = None  # absolute offset of the storage's first byte in `file`, if stored plainly
    member: str | None = None  # zip member holding the storage when it is compressed
    offset: int = 0  # element offset into the storage
    stride: tuple[int, ...] | None = None  # None: contiguous
    storage: StorageRef | None = None
    is_parameter: bool = False

    @property
    def numel(self) -> int:
        return math.prod(self.shape)

    @property
    def nbytes(self) -> int:
        return self.numel * self.itemsize

    @property
    def is_contiguous(self) -> bool:
        if self.stride is None:
            return True
        expected = contiguous_strides(self.shape)
        return all(s == e or d == 1 for s, e, d in zip(self.stride, expected, self.shape, strict=True))


def contiguous_strides(shape: tuple[int, ...]) -> tuple[int, ...]:
    """The row-major strides, in elements, of a tensor of this shape."""
    out, acc = [], 1
    for dim in reversed(shape):
        out.append(acc)
        acc *= dim
    return tuple(reversed(out))


def storage_extent(offset: int, shape: tuple[int, ...], stride: tuple[int, ...] | None) -> int:
    """One past the last storage element a tensor view touches (stride None: contiguous)."""
    if not shape or 0 in shape:
        return offset + (0 if shape else 1)
    strides = stride or contiguous_strides(shape)
    return offset + sum((d - 1) * s for d, s in zip(shape, strides, strict=False)) + 1


@dataclass(frozen=True)
class UnsafeGlobal:
    """A global the pickle would import and may call if loaded with torch.load(weights_only=False)."""

    module: str
    name: str
    where: str  # the member or section of the file holding the pickle

    @property
    def dotted(self) -> str:
        return f"{self.module}.{self.name}"


@dataclass
class Checkpoint:
    """What one checkpoint holds, read from its pickle or header alone."""

    path: str  # relative to the project root (or as given on the command line)
    format: str  # torch-zip | torch-legacy | lightning | safetensors | hf-sharded | pickle | unknown
    file: Path | None = None
    size: int = 0
    tensors: dict[str, TensorInfo] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)  # epoch, global_step, hyper_parameters, ...
    top_keys: list[str] = field(default_factory=list)  # keys of the top-level dict, if it is one
    unsafe: list[UnsafeGlobal] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # why (part of) it could not be read
    shards: list[str] = field(default_factory=list)
    cache: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)  # value evidence, read once

    @property
    def readable(self) -> bool:
        return not self.problems or bool(self.tensors)

    @property
    def parameter_count(self) -> int:
        """Learnable parameters, as `sum(p.numel() for p in model.parameters())` counts them."""
        return count_parameters({name: t.shape for name, t in self.model_tensors().items()})

    def model_tensors(self) -> dict[str, TensorInfo]:
        """The model's weights without nesting or wrapper prefixes: `{"state_dict": {"module.fc.w": t}}` -> `fc.w`."""
        loose = {t.key: t for t in self.tensors.values() if not t.nest}
        heads: dict[str, dict[str, TensorInfo]] = {}
        for t in self.tensors.values():
            if t.nest:
                heads.setdefault(t.nest[0], {})[".".join((*t.nest[1:], t.key))] = t
        for key in MODEL_KEYS:
            if heads.get(key) and len(heads[key]) >= len(loose):
                return strip_wrappers(heads[key])
        if loose:
            return strip_wrappers(loose)
        rest = {k: v for k, v in heads.items() if k not in OPTIMIZER_KEYS and k not in ("callbacks", "loops")}
        return strip_wrappers(max(rest.values(), key=len)) if rest else {}


# Buffers that normalisation layers keep in their state_dict: state, not parameters.
NORM_BUFFERS = ("running_mean", "running_var", "num_batches_tracked")


def count_parameters(shapes: Mapping[str, tuple[int, ...]]) -> int:
    """Elements of every tensor but normalisation buffers, from names and shapes alone."""
    return sum(math.prod(shape) for name, shape in shapes.items() if not name.endswith(NORM_BUFFERS))


def strip_wrappers(tensors: dict[str, TensorInfo]) -> dict[str, TensorInfo]:
    """Drop a prefix every key shares when it is a known wrapper's (DataParallel, torch.compile)."""
    changed = True
    while changed and tensors:
        changed = False
        for prefix in ("module.", "_orig_mod."):
            if all(k.startswith(prefix) for k in tensors):
                tensors = {k[len(prefix):]: v for k, v in tensors.items()}
                changed = True
    return tensors
