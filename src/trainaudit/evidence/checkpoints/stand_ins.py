"""Inert stand-ins for the globals a weights pickle may name, and the allowlist that maps names to them.

Nothing here imports torch, numpy, argparse or pathlib: each stand-in only records its arguments.
"""

from __future__ import annotations

import struct
from collections import Counter, OrderedDict
from collections.abc import Callable
from typing import Any

from trainaudit.evidence.checkpoints.model import StorageRef

# torch's legacy typed storages: class name -> (dtype, bytes per element).
STORAGE_TYPES: dict[str, tuple[str, int]] = {
    "FloatStorage": ("float32", 4), "DoubleStorage": ("float64", 8), "HalfStorage": ("float16", 2),
    "BFloat16Storage": ("bfloat16", 2), "LongStorage": ("int64", 8), "IntStorage": ("int32", 4),
    "ShortStorage": ("int16", 2), "CharStorage": ("int8", 1), "ByteStorage": ("uint8", 1),
    "BoolStorage": ("bool", 1), "ComplexFloatStorage": ("complex64", 8),
    "ComplexDoubleStorage": ("complex128", 16), "QInt8Storage": ("qint8", 1), "QUInt8Storage": ("quint8", 1),
    "QInt32Storage": ("qint32", 4), "QUInt4x2Storage": ("quint4x2", 1), "QUInt2x4Storage": ("quint2x4", 1),
    "UntypedStorage": ("uint8", 1),
}
# torch dtypes that appear as globals (`torch.float16`) in _rebuild_tensor_v3 and in hparams.
DTYPE_SIZES: dict[str, int] = {
    "float32": 4, "float": 4, "float64": 8, "double": 8, "float16": 2, "half": 2, "bfloat16": 2,
    "int64": 8, "long": 8, "int32": 4, "int": 4, "int16": 2, "short": 2, "int8": 1, "uint8": 1,
    "uint16": 2, "uint32": 4, "uint64": 8, "bool": 1, "complex64": 8, "complex128": 16, "cfloat": 8,
    "cdouble": 16, "float8_e4m3fn": 1, "float8_e5m2": 1, "float8_e4m3fnuz": 1, "float8_e5m2fnuz": 1,
    "float8_e8m0fnu": 1, "qint8": 1, "quint8": 1, "qint32": 4,
}
_ALIASES = {"float": "float32", "double": "float64", "half": "float16", "long": "int64", "int": "int32",
            "short": "int16", "cfloat": "complex64", "cdouble": "complex128"}


class Inert:
    """An object that accepts every pickle operation and does nothing: stands in for blocked globals."""

    _global: tuple[str, str] = ("", "")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.args = args
        self.state: Any = None

    def __call__(self, *args: Any, **kwargs: Any) -> Inert:
        return blocked_type(*self._global)(*args)

    def __setstate__(self, state: Any) -> None:
        self.state = state

    # SETITEM / APPEND on an object of unknown type must not fail either.
    def __setitem__(self, key: Any, value: Any) -> None:
        pass

    def append(self, item: Any) -> None:
        pass

    def extend(self, items: Any) -> None:
        pass

    def __repr__(self) -> str:
        return f"<blocked {self._global[0]}.{self._global[1]}>"


def blocked_type(module: str, name: str) -> type[Inert]:
    """A fresh class per blocked global, so NEWOBJ (which needs a type) works and nothing real runs."""
    return type(f"Blocked_{name}", (Inert,), {"_global": (module, name)})


class DType:
    """A torch dtype named by a global such as `torch.float16`."""

    def __init__(self, name: str) -> None:
        self.name = _ALIASES.get(name, name)
        self.itemsize = DTYPE_SIZES.get(name, 1)

    def __repr__(self) -> str:
        return f"torch.{self.name}"


class StorageType:
    """A storage class such as `torch.FloatStorage`, used only as a tag in persistent ids."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.dtype, self.itemsize = STORAGE_TYPES[name]

    def __repr__(self) -> str:
        return f"torch.{self.name}"


class TensorStub:
    """A tensor as the pickle describes it: storage reference, offset, shape, stride; no data."""

    def __init__(self, storage: Any, offset: Any, shape: Any, stride: Any, dtype: DType | None = None) -> None:
        self.storage = storage if isinstance(storage, StorageRef) else None
        self.offset = offset if isinstance(offset, int) else 0
        self.shape = tuple(int(s) for s in shape) if _ints(shape) else ()
        self.stride = tuple(int(s) for s in stride) if _ints(stride) else None
        self.is_parameter = False
        if dtype is not None:
            self.dtype, self.itemsize = dtype.name, dtype.itemsize
        elif self.storage is not None:
            self.dtype, self.itemsize = self.storage.dtype, self.storage.itemsize
        else:
            self.dtype, self.itemsize = "unknown", 0
        self.valid = self.storage is not None and _ints(shape)

    def __setstate__(self, state: Any) -> None:  # tensor subclasses carry a state; it is not needed
        pass

    def __repr__(self) -> str:
        return f"tensor({self.dtype}, {list(self.shape)})"


def _ints(seq: Any) -> bool:
    return isinstance(seq, (tuple, list)) and all(isinstance(s, int) and s >= 0 for s in seq)


class MetaTensor(TensorStub):
    """A tensor saved without storage (device 'meta' or sparse/nested layouts): shape only, if given."""

    def __init__(self, *args: Any) -> None:
        dtype = next((a for a in args if isinstance(a, DType)), None)
        shape = next((a for a in args if _ints(a)), ())
        super().__init__(None, 0, shape, None, dtype)


class Record:
    """An attribute bag for allowlisted plain-data classes (argparse.Namespace, numpy dtype)."""

    args: tuple[Any, ...] = ()  # NEWOBJ builds instances without __init__ (TorchScript modules): state only

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.args = args
        self.fields: dict[str, Any] = dict(kwargs)

    def __setstate__(self, state: Any) -> None:
        fields = self.__dict__.setdefault("fields", {})
        if isinstance(state, dict):
            fields.update(state)
        else:
            fields["__state__"] = state

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.fields or self.args})"


class Namespace(Record):
    pass


class NumpyDType(Record):
    """numpy.dtype('f8', ...): keeps the type code, which is enough to decode a numpy scalar."""

    @property
    def code(self) -> str:
        return str(self.args[0]) if self.args else ""


class NumpyArray(Record):
    """numpy ndarray reconstructed by pickle: shape and dtype kept, data dropped."""

    def __setstate__(self, state: Any) -> None:
        if isinstance(state, tuple) and len(state) >= 3:
            self.fields = {"shape": state[1], "dtype": getattr(state[2], "code", "?")}


class AttrDict(dict):
    """Lightning's AttributeDict (a dict subclass) read as a dict."""

    def __setstate__(self, state: Any) -> None:
        if isinstance(state, dict):
            self.update(state)


def _rebuild_tensor(storage: Any, offset: Any, size: Any, stride: Any, *_rest: Any) -> TensorStub:
    return TensorStub(storage, offset, size, stride)


def _rebuild_tensor_v3(storage: Any, offset: Any, size: Any, stride: Any, _grad: Any = None, _hooks: Any = None,
                       dtype: Any = None, *_rest: Any) -> TensorStub:
    return TensorStub(storage, offset, size, stride, dtype if isinstance(dtype, DType) else None)


def _rebuild_parameter(data: Any, *_rest: Any) -> Any:
    if isinstance(data, TensorStub):
        data.is_parameter = True
    return data


def _rebuild_from_type_v2(func: Any, _type: Any, args: Any, _state: Any) -> Any:
    # Only allowlisted stand-ins can arrive as `func`; blocked ones are Inert and do nothing.
    return func(*args) if callable(func) and isinstance(args, tuple) else Inert()


def _codecs_encode(text: Any, encoding: Any = "utf-8") -> bytes:
    """How protocol 2 spells bytes; only the two encodings pickle uses are honoured."""
    if isinstance(text, str) and encoding in ("latin1", "latin-1", "utf-8", "utf8"):
        return text.encode(encoding)
    return b""


_NUMPY_CODES = {"f8": "<d", "f4": "<f", "f2": "<e", "i8": "<q", "i4": "<i", "i2": "<h", "i1": "<b",
                "u8": "<Q", "u4": "<I", "u2": "<H", "u1": "<B", "b1": "<?"}


def _numpy_scalar(dtype: Any, raw: Any = b"") -> Any:
    """numpy scalar(dtype, bytes) -> the Python number it holds (how Lightning hparams keep np.float64)."""
    fmt = _NUMPY_CODES.get(getattr(dtype, "code", "").lstrip("<|="))
    if fmt and isinstance(raw, bytes) and len(raw) == struct.calcsize(fmt):
        return struct.unpack(fmt, raw)[0]
    return Record(dtype, raw)


def _numpy_reconstruct(_cls: Any, *_args: Any) -> NumpyArray:
    return NumpyArray()


def _bytearray(data: Any = b"", *_rest: Any) -> bytearray:
    # bytearray(n) would allocate n bytes: only copying existing data is honoured.
    return bytearray(data) if isinstance(data, (bytes, bytearray)) else bytearray()


def _path(*parts: Any) -> str:
    return "/".join(str(p) for p in parts).replace("//", "/")


def _copyreg_reconstructor(cls: Any, _base: Any, _state: Any = None) -> Any:
    return cls() if isinstance(cls, type) and issubclass(cls, (Record, Inert, AttrDict)) else Inert()


def _torch_device(*args: Any) -> str:
    return ":".join(str(a) for a in args if a is not None)


def _build_allowlist() -> dict[tuple[str, str], Any]:
    allow: dict[tuple[str, str], Any] = {
        ("collections", "OrderedDict"): OrderedDict,
        ("collections", "Counter"): Counter,
        ("collections", "defaultdict"): lambda *_a: {},  # the factory argument is never called
        ("builtins", "set"): set,
        ("builtins", "frozenset"): frozenset,
        ("builtins", "slice"): slice,
        ("builtins", "complex"): complex,
        ("builtins", "bytearray"): _bytearray,
        ("builtins", "object"): object,
        ("_codecs", "encode"): _codecs_encode,
        ("copyreg", "_reconstructor"): _copyreg_reconstructor,
        ("torch", "Size"): tuple,
        ("torch", "device"): _torch_device,
        ("torch.serialization", "_get_layout"): lambda name="": str(name),
        ("torch._utils", "_rebuild_tensor"): _rebuild_tensor,
        ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor,
        ("torch._utils", "_rebuild_tensor_v3"): _rebuild_tensor_v3,
        ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
        ("torch._utils", "_rebuild_parameter_with_state"): _rebuild_parameter,
        ("torch._utils", "_rebuild_qtensor"): _rebuild_tensor,
        ("torch._utils", "_rebuild_meta_tensor_no_storage"): MetaTensor,
        ("torch._utils", "_rebuild_sparse_tensor"): MetaTensor,
        ("torch._utils", "_rebuild_nested_tensor"): MetaTensor,
        ("torch._utils", "_rebuild_wrapper_subclass"): MetaTensor,
        ("torch._utils", "_rebuild_device_tensor_from_cpu_tensor"): lambda data, *_a: data,
        ("torch._tensor", "_rebuild_from_type_v2"): _rebuild_from_type_v2,
        ("torch", "Tensor"): TensorStub,
        ("torch.nn.parameter", "Parameter"): TensorStub,
        ("argparse", "Namespace"): Namespace,
        ("numpy", "dtype"): NumpyDType,
        ("numpy", "ndarray"): NumpyArray,
    }
    for name in STORAGE_TYPES:
        allow[("torch", name)] = StorageType(name)
        allow[("torch.storage", name)] = StorageType(name)
    for name in DTYPE_SIZES:
        allow[("torch", name)] = DType(name)
    for mod in ("numpy.core.multiarray", "numpy._core.multiarray"):
        allow[(mod, "scalar")] = _numpy_scalar
        allow[(mod, "_reconstruct")] = _numpy_reconstruct
    for code in ("Float64DType", "Float32DType", "Float16DType", "Int64DType", "Int32DType", "BoolDType"):
        allow[("numpy.dtypes", code)] = NumpyDType
    for mod in ("pathlib", "pathlib._local"):
        for cls in ("Path", "PosixPath", "WindowsPath", "PurePath", "PurePosixPath", "PureWindowsPath"):
            allow[(mod, cls)] = _path
    for mod in ("pytorch_lightning.utilities.parsing", "lightning.pytorch.utilities.parsing",
                "lightning_fabric.utilities.data", "lightning.fabric.utilities.data"):
        allow[(mod, "AttributeDict")] = AttrDict
    return allow


ALLOWLIST: dict[tuple[str, str], Any] = _build_allowlist()
StandIn = Callable[..., Any]
