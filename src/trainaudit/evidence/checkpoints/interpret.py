"""Turn a rebuilt checkpoint object into tensors, metadata and nesting, whatever format carried it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from trainaudit.evidence.checkpoints.limits import MAX_DIMS, MAX_TENSORS
from trainaudit.evidence.checkpoints.model import Checkpoint, StorageRef, TensorInfo, storage_extent
from trainaudit.evidence.checkpoints.safe_pickle import PickleResult, jsonable, walk_tensors
from trainaudit.evidence.checkpoints.stand_ins import TensorStub

# (file, absolute byte offset of the storage or None, zip member when compressed, bytes actually present)
Locator = Callable[[StorageRef], tuple[Path | None, int | None, str | None, int]]

METADATA_KEYS = ("epoch", "global_step", "step", "steps", "iteration", "iter", "best_acc", "best_loss",
                 "best_metric", "loss", "val_loss", "accuracy", "hyper_parameters", "hparams", "hparams_name",
                 "args", "config", "cfg", "pytorch-lightning_version", "version", "lr", "learning_rate",
                 "arch", "model_name", "train_loss", "metrics")
LIGHTNING_MARKERS = ("pytorch-lightning_version", "optimizer_states", "loops")


def fill_from_pickle(ckpt: Checkpoint, result: PickleResult, locate: Locator) -> None:
    """Record tensors with their data locations, check each against its storage, and keep metadata."""
    ckpt.unsafe.extend(result.unsafe)
    if result.error:
        ckpt.problems.append(f"pickle could not be read to the end ({result.error})")
    obj = result.obj
    for nest, key, stub in walk_tensors(obj, MAX_TENSORS):
        name = ".".join((*nest, key))
        info = _tensor(name, nest, key, stub, ckpt, locate)
        if info is not None:
            ckpt.tensors[name] = info
    if isinstance(obj, dict):
        ckpt.top_keys = [str(k) for k in obj][:500]
        ckpt.metadata.update(_metadata(obj))
        if "state_dict" in obj and any(k in obj for k in LIGHTNING_MARKERS):
            ckpt.format = "lightning"


def _tensor(name: str, nest: tuple[str, ...], key: str, stub: TensorStub, ckpt: Checkpoint,
            locate: Locator) -> TensorInfo | None:
    if len(stub.shape) > MAX_DIMS:
        ckpt.problems.append(f"tensor {name} declares {len(stub.shape)} dimensions")
        return None
    info = TensorInfo(name=name, nest=nest, key=key, dtype=stub.dtype, shape=stub.shape, itemsize=stub.itemsize,
                      offset=stub.offset, stride=stub.stride, storage=stub.storage, is_parameter=stub.is_parameter)
    if stub.storage is None:
        return info  # meta / sparse / nested tensors: shape only
    file, byte_offset, member, present = locate(stub.storage)
    extent = storage_extent(stub.offset, stub.shape, stub.stride)
    if extent > stub.storage.numel:
        ckpt.problems.append(f"tensor {name} reaches element {extent} of a storage of {stub.storage.numel}")
        return info
    if present < stub.storage.nbytes:
        ckpt.problems.append(
            f"storage {stub.storage.key} of tensor {name} declares {stub.storage.nbytes} bytes but the file "
            f"holds {present}")
        return info
    info.file, info.byte_offset, info.member = file, byte_offset, member
    return info


def _metadata(obj: dict[Any, Any]) -> dict[str, Any]:
    """Scalars at the top level, and the known training-state keys however deep they go (bounded)."""
    meta: dict[str, Any] = {}
    for k, v in obj.items():
        key = str(k)
        if isinstance(v, TensorStub):
            continue
        if key in METADATA_KEYS or isinstance(v, (int, float, str, bool)) or v is None:
            meta[key] = jsonable(v)
    callbacks = obj.get("callbacks")
    if isinstance(callbacks, dict):
        meta["callbacks"] = [str(k)[:200] for k in callbacks][:50]
    return meta
