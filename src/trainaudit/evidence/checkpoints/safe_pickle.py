"""Read a pickle without running it: allowlisted globals become inert stand-ins, all others are recorded."""

from __future__ import annotations

import _compat_pickle
import io
import pickle
import pickletools
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import IO, Any

from trainaudit.evidence.checkpoints.limits import MAX_PICKLE_BYTES
from trainaudit.evidence.checkpoints.model import StorageRef, UnsafeGlobal
from trainaudit.evidence.checkpoints.stand_ins import (
    ALLOWLIST,
    DType,
    Inert,
    Record,
    StorageType,
    TensorStub,
    blocked_type,
)

PICKLE_PROTOCOL_HEADS = tuple(bytes([0x80, p]) for p in range(2, 6))


def normalise_global(module: str, name: str) -> tuple[str, str]:
    """Undo protocol-2 Python 2 names (`__builtin__.set` -> `builtins.set`) the way pickle itself does."""
    if (module, name) in _compat_pickle.NAME_MAPPING:
        return _compat_pickle.NAME_MAPPING[(module, name)]
    return _compat_pickle.IMPORT_MAPPING.get(module, module), name


@dataclass
class PickleResult:
    """The rebuilt object (stand-ins inside), the storages it names and every global it asked for."""

    obj: Any = None
    storages: dict[str, StorageRef] = field(default_factory=dict)
    unsafe: list[UnsafeGlobal] = field(default_factory=list)
    allowed: set[str] = field(default_factory=set)
    error: str | None = None


class SafeUnpickler(pickle.Unpickler):
    """find_class never imports: it returns an allowlisted stand-in or an inert blocked type."""

    def __init__(self, file: IO[bytes], where: str, result: PickleResult, extra_allowed: tuple[str, ...] = ()):
        super().__init__(file, encoding="latin1")
        self.where = where
        self.result = result
        self.extra_allowed = extra_allowed  # module prefixes that are inert records here (TorchScript classes)

    def find_class(self, module: str, name: str) -> Any:
        module, name = normalise_global(str(module), str(name))
        hit = ALLOWLIST.get((module, name))
        if hit is not None:
            self.result.allowed.add(f"{module}.{name}")
            return hit
        if self.extra_allowed and module.startswith(self.extra_allowed):
            return type(f"Script_{name}", (Record,), {})
        self.result.unsafe.append(UnsafeGlobal(module, name, self.where))
        return blocked_type(module, name)

    def persistent_load(self, pid: Any) -> Any:
        if not (isinstance(pid, tuple) and len(pid) >= 5 and pid[0] in ("storage", b"storage")):
            return Inert()
        stype, key, location, numel = pid[1:5]
        if isinstance(stype, StorageType):
            dtype, itemsize = stype.dtype, stype.itemsize
        elif isinstance(stype, DType):
            dtype, itemsize = stype.name, stype.itemsize
        else:  # a blocked global in the storage slot: nothing to describe
            return Inert()
        key = key.decode("latin1") if isinstance(key, bytes) else str(key)
        location = location.decode("latin1") if isinstance(location, bytes) else str(location)
        if not isinstance(numel, int) or numel < 0:
            return Inert()
        ref = self.result.storages.setdefault(key, StorageRef(key, dtype, itemsize, location, numel))
        return ref


def load_pickle(data: bytes | IO[bytes], where: str, extra_allowed: tuple[str, ...] = ()) -> PickleResult:
    """Rebuild one pickle with stand-ins; a failure keeps what was read and lists the remaining globals."""
    result = PickleResult()
    stream = io.BytesIO(data) if isinstance(data, (bytes, bytearray)) else data
    start = stream.tell()
    try:
        result.obj = SafeUnpickler(stream, where, result, extra_allowed).load()
    except Exception as exc:  # noqa: BLE001 - any malformed pickle is a recorded problem, not a crash
        result.error = f"{type(exc).__name__}: {exc}"[:300]
        # Globals after the failure point are still listed, from the opcodes alone.
        seen = {(u.module, u.name) for u in result.unsafe}
        if isinstance(data, (bytes, bytearray)):
            raw = bytes(data)
        else:
            stream.seek(start)
            raw = stream.read(MAX_PICKLE_BYTES)
        for module, name in scan_globals(raw):
            module, name = normalise_global(module, name)
            if (module, name) not in ALLOWLIST and (module, name) not in seen \
                    and not (extra_allowed and module.startswith(extra_allowed)):
                seen.add((module, name))
                result.unsafe.append(UnsafeGlobal(module, name, where))
    return result


def scan_globals(data: bytes) -> Iterator[tuple[str, str]]:
    """Globals named by GLOBAL / STACK_GLOBAL opcodes, following strings through the memo; stops quietly."""
    strings: list[str | None] = []  # a shadow of the stack's string pushes
    memo: dict[int, str | None] = {}
    next_memo = 0
    try:
        for op, arg, _pos in pickletools.genops(data):
            name = op.name
            if name == "GLOBAL" and isinstance(arg, str):
                module, _, attr = arg.partition(" ")
                yield module, attr
                strings.append(None)
            elif name == "STACK_GLOBAL":
                if len(strings) >= 2 and strings[-1] is not None and strings[-2] is not None:
                    yield str(strings[-2]), str(strings[-1])
                else:
                    yield "<unknown>", "<computed by STACK_GLOBAL>"
                strings[-2:] = [None]
            elif name in ("SHORT_BINUNICODE", "BINUNICODE", "BINUNICODE8", "UNICODE", "STRING",
                          "BINSTRING", "SHORT_BINSTRING") and isinstance(arg, (str, bytes)):
                strings.append(arg if isinstance(arg, str) else arg.decode("latin1"))
            elif name == "MEMOIZE":
                memo[next_memo] = strings[-1] if strings else None
                next_memo += 1
            elif name in ("PUT", "BINPUT", "LONG_BINPUT") and isinstance(arg, int):
                memo[arg] = strings[-1] if strings else None
            elif name in ("GET", "BINGET", "LONG_BINGET") and isinstance(arg, int):
                strings.append(memo.get(arg))
            elif name == "STOP":
                strings.clear()
            elif name not in ("PROTO", "FRAME"):
                strings.append(None)
    except Exception:  # noqa: BLE001 - malformed opcodes end the scan; what was found is kept
        return


def is_pickle_head(head: bytes) -> bool:
    return head[:2] in PICKLE_PROTOCOL_HEADS


def walk_tensors(obj: Any, limit: int) -> Iterator[tuple[tuple[str, ...], str, TensorStub]]:
    """(nest, key, tensor) for every tensor stub inside dicts, lists, tuples and records, iteratively."""
    todo: list[tuple[tuple[str, ...], Any]] = [((), obj)]
    seen: set[int] = set()
    count = 0
    while todo and count < limit:
        path, node = todo.pop()
        if id(node) in seen:
            continue
        if isinstance(node, TensorStub):
            count += 1
            yield path[:-1], path[-1] if path else "", node
            continue
        seen.add(id(node))
        if isinstance(node, dict):
            items = list(node.items())
        elif isinstance(node, (list, tuple)):
            items = list(enumerate(node))
        elif isinstance(node, Record):
            items = list(node.fields.items())
        else:
            continue
        for k, v in reversed(items):
            todo.append(((*path, str(k)), v))


def jsonable(obj: Any, depth: int = 0, budget: list[int] | None = None) -> Any:
    """A JSON-safe, size-bounded rendering of metadata (hparams, epoch, callbacks)."""
    budget = budget if budget is not None else [2000]
    budget[0] -= 1
    if budget[0] < 0 or depth > 8:
        return "..."
    if obj is None or isinstance(obj, (bool, int, str)):
        return obj if not isinstance(obj, str) or len(obj) < 500 else obj[:500] + "..."
    if isinstance(obj, float):
        return obj if obj == obj and obj not in (float("inf"), float("-inf")) else repr(obj)
    if isinstance(obj, (bytes, bytearray)):
        return f"<{len(obj)} bytes>"
    if isinstance(obj, dict):
        return {str(k): jsonable(v, depth + 1, budget) for k, v in list(obj.items())[:200]}
    if isinstance(obj, (list, tuple, set, frozenset)):
        seq = sorted(obj, key=repr) if isinstance(obj, (set, frozenset)) else obj
        return [jsonable(v, depth + 1, budget) for v in list(seq)[:200]]
    if isinstance(obj, Record):
        return {str(k): jsonable(v, depth + 1, budget) for k, v in obj.fields.items()} or repr(obj)
    return repr(obj)[:200]
