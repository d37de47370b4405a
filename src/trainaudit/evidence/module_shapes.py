"""Parameter names and shapes a project's nn.Module would have, derived statically from its __init__."""

from __future__ import annotations

import ast
import math
import operator
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from trainaudit.evidence.checkpoints.model import NORM_BUFFERS
from trainaudit.evidence.index import ClassInfo, FunctionInfo, ProjectIndex
from trainaudit.evidence.source import SourceFile

UNKNOWN: Any = type("Unknown", (), {"__repr__": lambda self: "?"})()
MAX_DEPTH = 12
MAX_REPEAT = 1000


@dataclass
class Structure:
    """A module's state_dict as far as it is known: name -> shape (None: shape unknown)."""

    tensors: dict[str, tuple[int, ...] | None] = field(default_factory=dict)
    buffers: set[str] = field(default_factory=set)
    unresolved: list[str] = field(default_factory=list)  # prefixes ("" = the whole module) of unknown contents

    def add(self, prefix: str, child: Structure) -> None:
        dot = f"{prefix}." if prefix else ""
        self.tensors.update({f"{dot}{k}": v for k, v in child.tensors.items()})
        self.buffers.update(f"{dot}{k}" for k in child.buffers)
        self.unresolved.extend(f"{dot}{u}".rstrip(".") if u else prefix for u in child.unresolved)

    def remove(self, prefix: str) -> None:
        for name in [k for k in self.tensors if k == prefix or k.startswith(prefix + ".")]:
            self.tensors.pop(name)
            self.buffers.discard(name)

    @property
    def complete(self) -> bool:
        return not self.unresolved and all(v is not None for v in self.tensors.values())

    @property
    def parameter_count(self) -> int:
        """Elements of known-shaped parameters (buffers excluded); a lower bound when incomplete."""
        return sum(math.prod(v) for k, v in self.tensors.items() if v is not None and k not in self.buffers)


@dataclass(frozen=True)
class Mod:
    structure: Structure


@dataclass(frozen=True)
class Tens:
    shape: tuple[int, ...] | None
    parameter: bool = False


def _ints(*values: Any) -> bool:
    return all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in values)


def _tuple(v: Any, n: int) -> tuple[int, ...] | None:
    if _ints(v):
        return (v,) * n
    if isinstance(v, (tuple, list)) and len(v) == n and _ints(*v):
        return tuple(v)
    return None


def _s(tensors: dict[str, tuple[int, ...] | None], buffers: tuple[str, ...] = ()) -> Structure:
    return Structure(dict(tensors), set(buffers))


class _Args:
    def __init__(self, args: list[Any], kwargs: dict[str, Any]):
        self.args, self.kwargs = args, kwargs

    def get(self, i: int, name: str, default: Any = UNKNOWN) -> Any:
        if name in self.kwargs:
            return self.kwargs[name]
        return self.args[i] if i < len(self.args) else default


def _linear(a: _Args) -> Structure | None:
    i, o, bias = a.get(0, "in_features"), a.get(1, "out_features"), a.get(2, "bias", True)
    if not _ints(i, o) or bias is UNKNOWN:
        return None
    return _s({"weight": (o, i), **({"bias": (o,)} if bias else {})})


def _bilinear(a: _Args) -> Structure | None:
    i1, i2, o = a.get(0, "in1_features"), a.get(1, "in2_features"), a.get(2, "out_features")
    bias = a.get(3, "bias", True)
    if not _ints(i1, i2, o) or bias is UNKNOWN:
        return None
    return _s({"weight": (o, i1, i2), **({"bias": (o,)} if bias else {})})


def _conv(n: int, transposed: bool) -> Callable[[_Args], Structure | None]:
    def build(a: _Args) -> Structure | None:
        i, o, k = a.get(0, "in_channels"), a.get(1, "out_channels"), _tuple(a.get(2, "kernel_size"), n)
        groups = a.get(7 if transposed else 6, "groups", 1)
        bias = a.get(6 if transposed else 7, "bias", True)
        if not _ints(i, o, groups) or k is None or bias is UNKNOWN or groups == 0:
            return None
        weight = (i, o // groups, *k) if transposed else (o, i // groups, *k)
        return _s({"weight": weight, **({"bias": (o,)} if bias else {})})

    return build


def _embedding(a: _Args) -> Structure | None:
    n, d = a.get(0, "num_embeddings"), a.get(1, "embedding_dim")
    return _s({"weight": (n, d)}) if _ints(n, d) else None


def _normalized_shape(a: _Args) -> tuple[int, ...] | None:
    shape = a.get(0, "normalized_shape")
    return (shape,) if _ints(shape) else tuple(shape) if isinstance(shape, (tuple, list)) and _ints(*shape) else None


def _layer_norm(a: _Args) -> Structure | None:
    shape = _normalized_shape(a)
    affine, bias = a.get(2, "elementwise_affine", True), a.get(3, "bias", True)
    if shape is None or affine is UNKNOWN or bias is UNKNOWN:
        return None
    return _s(({"weight": shape, **({"bias": shape} if bias else {})}) if affine else {})


def _rms_norm(a: _Args) -> Structure | None:
    shape = _normalized_shape(a)
    affine = a.get(2, "elementwise_affine", True)
    return None if shape is None or affine is UNKNOWN else _s({"weight": shape} if affine else {})


def _batch_norm(instance: bool) -> Callable[[_Args], Structure | None]:
    def build(a: _Args) -> Structure | None:
        n = a.get(0, "num_features")
        affine = a.get(3, "affine", not instance)
        track = a.get(4, "track_running_stats", not instance)
        if not _ints(n) or affine is UNKNOWN or track is UNKNOWN:
            return None
        tensors: dict[str, tuple[int, ...] | None] = {}
        if affine:
            tensors.update(weight=(n,), bias=(n,))
        if track:
            tensors.update(running_mean=(n,), running_var=(n,), num_batches_tracked=())
        return _s(tensors, NORM_BUFFERS if track else ())

    return build


def _group_norm(a: _Args) -> Structure | None:
    c, affine = a.get(1, "num_channels"), a.get(3, "affine", True)
    if not _ints(c) or affine is UNKNOWN:
        return None
    return _s({"weight": (c,), "bias": (c,)} if affine else {})


def _rnn(gates: int) -> Callable[[_Args], Structure | None]:
    def build(a: _Args) -> Structure | None:
        i, h, layers = a.get(0, "input_size"), a.get(1, "hidden_size"), a.get(2, "num_layers", 1)
        bias, bidir = a.get(3 if gates != 1 else 4, "bias", True), a.get(7 if gates != 1 else 8, "bidirectional",
                                                                            False)
        proj = a.get(99, "proj_size", 0)
        if not _ints(i, h, layers, proj) or bias is UNKNOWN or bidir is UNKNOWN:
            return None
        out = proj or h
        tensors: dict[str, tuple[int, ...] | None] = {}
        for k in range(layers):
            for sfx in ("", "_reverse") if bidir else ("",):
                width = i if k == 0 else out * (2 if bidir else 1)
                tensors[f"weight_ih_l{k}{sfx}"] = (gates * h, width)
                tensors[f"weight_hh_l{k}{sfx}"] = (gates * h, out)
                if bias:
                    tensors[f"bias_ih_l{k}{sfx}"] = (gates * h,)
                    tensors[f"bias_hh_l{k}{sfx}"] = (gates * h,)
                if proj:
                    tensors[f"weight_hr_l{k}{sfx}"] = (proj, h)
        return _s(tensors)

    return build


def _mha(a: _Args) -> Structure | None:
    e, bias = a.get(0, "embed_dim"), a.get(3, "bias", True)
    kdim, vdim = a.get(6, "kdim", None), a.get(7, "vdim", None)
    if not _ints(e) or bias is UNKNOWN or kdim not in (None, e) or vdim not in (None, e):
        return None
    t: dict[str, tuple[int, ...] | None] = {"in_proj_weight": (3 * e, e), "out_proj.weight": (e, e)}
    if bias:
        t.update({"in_proj_bias": (3 * e,), "out_proj.bias": (e,)})
    return _s(t)


def _encoder_layer(a: _Args) -> Structure | None:
    d, ff, bias = a.get(0, "d_model"), a.get(2, "dim_feedforward", 2048), a.get(99, "bias", True)
    if not _ints(d, ff) or bias is UNKNOWN:
        return None
    parts = {"self_attn": _mha(_Args([d], {"bias": bias})), "linear1": _linear(_Args([d, ff], {"bias": bias})),
             "linear2": _linear(_Args([ff, d], {"bias": bias}))}
    parts |= dict.fromkeys(("norm1", "norm2"), _layer_norm(_Args([d], {"bias": bias})))
    s = Structure()
    for name, part in parts.items():
        assert part is not None  # d and ff are known ints, bias is known: every builder succeeds
        s.add(name, part)
    return s


def _prelu(a: _Args) -> Structure | None:
    n = a.get(0, "num_parameters", 1)
    return _s({"weight": (n,)}) if _ints(n) else None


PARAM_FREE = frozenset(
    "ReLU ReLU6 GELU SiLU Mish Tanh Sigmoid Softmax Softmax2d LogSoftmax LeakyReLU ELU SELU CELU Hardswish "
    "Hardsigmoid Hardtanh Softplus Softsign Tanhshrink Threshold GLU LogSigmoid Dropout Dropout1d Dropout2d "
    "Dropout3d AlphaDropout FeatureAlphaDropout Identity Flatten Unflatten MaxPool1d MaxPool2d MaxPool3d "
    "AvgPool1d AvgPool2d AvgPool3d AdaptiveAvgPool1d AdaptiveAvgPool2d AdaptiveAvgPool3d AdaptiveMaxPool1d "
    "AdaptiveMaxPool2d AdaptiveMaxPool3d Upsample UpsamplingNearest2d UpsamplingBilinear2d PixelShuffle "
    "PixelUnshuffle ZeroPad1d ZeroPad2d ZeroPad3d ConstantPad1d ConstantPad2d ConstantPad3d ReflectionPad1d "
    "ReflectionPad2d ReflectionPad3d ReplicationPad1d ReplicationPad2d ReplicationPad3d CosineSimilarity "
    "PairwiseDistance ChannelShuffle MSELoss L1Loss SmoothL1Loss HuberLoss BCELoss BCEWithLogitsLoss "
    "CrossEntropyLoss NLLLoss KLDivLoss CTCLoss".split()
)
LAYERS: dict[str, Callable[[_Args], Structure | None]] = {
    "Linear": _linear, "LazyLinear": lambda a: None, "Bilinear": _bilinear,
    "Conv1d": _conv(1, False), "Conv2d": _conv(2, False), "Conv3d": _conv(3, False),
    "ConvTranspose1d": _conv(1, True), "ConvTranspose2d": _conv(2, True), "ConvTranspose3d": _conv(3, True),
    "Embedding": _embedding, "LayerNorm": _layer_norm, "RMSNorm": _rms_norm,
    "BatchNorm1d": _batch_norm(False), "BatchNorm2d": _batch_norm(False), "BatchNorm3d": _batch_norm(False),
    "SyncBatchNorm": _batch_norm(False), "InstanceNorm1d": _batch_norm(True), "InstanceNorm2d": _batch_norm(True),
    "InstanceNorm3d": _batch_norm(True), "GroupNorm": _group_norm,
    "LSTM": _rnn(4), "GRU": _rnn(3), "RNN": _rnn(1), "MultiheadAttention": _mha,
    "TransformerEncoderLayer": _encoder_layer, "PReLU": _prelu,
}
TENSOR_MAKERS = frozenset({"zeros", "ones", "randn", "rand", "empty", "full", "randint", "eye", "tensor",
                           "arange", "zeros_like", "ones_like"})
_BINOPS: dict[type, Callable[[Any, Any], Any]] = {
    ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.FloorDiv: operator.floordiv,
    ast.Div: operator.truediv, ast.Mod: operator.mod, ast.Pow: operator.pow,
}


def _nn_name(dotted: str | None) -> str | None:
    """`torch.nn.Linear` / `torch.nn.modules.linear.Linear` -> `Linear`; anything else -> None."""
    if dotted and dotted.startswith("torch.nn.") and not dotted.startswith("torch.nn.functional"):
        return dotted.rsplit(".", 1)[-1]
    return None


class ShapeDeriver:
    """Evaluates the literal parts of __init__ bodies; what it cannot follow becomes 'unresolved'."""

    def __init__(self, index: ProjectIndex) -> None:
        self.index = index
        self._cache: dict[str, Structure] = {}

    def structure(self, cls: ClassInfo) -> Structure:
        """The structure with __init__ defaults, or the literal arguments of the project's first call site."""
        if cls.qualname not in self._cache:
            args, kwargs = self._call_site_args(cls)
            self._cache[cls.qualname] = self._derive(cls, args, kwargs, 0, ())
        return self._cache[cls.qualname]

    def _call_site_args(self, cls: ClassInfo) -> tuple[list[Any], dict[str, Any]]:
        init = self.index.method(cls, "__init__")
        if init is None:
            return [], {}
        a = init.node.args
        required = len(a.args) - 1 - len(a.defaults) + sum(1 for d in a.kw_defaults if d is None)
        if required <= 0:
            return [], {}
        for site in self.index.call_sites.get(cls.qualname, []):
            if site.file.is_test:
                continue
            ev = _Eval(self, site.file, {}, 0, ())
            args = [ev.eval(x) for x in site.node.args]
            kwargs = {k.arg: ev.eval(k.value) for k in site.node.keywords if k.arg}
            if UNKNOWN not in args and UNKNOWN not in kwargs.values():
                return args, kwargs
        return [], {}

    def _derive(self, cls: ClassInfo, args: list[Any], kwargs: dict[str, Any], depth: int,
                stack: tuple[str, ...]) -> Structure:
        if depth > MAX_DEPTH or cls.qualname in stack:
            return Structure(unresolved=[""])
        stack = (*stack, cls.qualname)
        init = self.index.method(cls, "__init__")
        out = Structure()
        if init is None:
            return out
        env = self._bind(init, args, kwargs, depth, stack)
        ev = _Eval(self, init.file, env, depth, stack, out, init)
        ev.run(init.node.body)
        return out

    def _bind(self, fn: FunctionInfo, args: list[Any], kwargs: dict[str, Any], depth: int,
              stack: tuple[str, ...]) -> dict[str, Any]:
        a = fn.node.args
        params = [p.arg for p in (*a.posonlyargs, *a.args)][1:]  # drop self
        defaults = [None] * (len(params) - len(a.defaults)) + list(a.defaults)
        env: dict[str, Any] = {}
        dev = _Eval(self, fn.file, {}, depth, stack)
        for i, (name, default) in enumerate(zip(params, defaults, strict=True)):
            if name in kwargs:
                env[name] = kwargs[name]
            elif i < len(args):
                env[name] = args[i]
            else:
                env[name] = dev.eval(default) if default is not None else UNKNOWN
        for p, d in zip(a.kwonlyargs, a.kw_defaults, strict=True):
            env[p.arg] = kwargs.get(p.arg, dev.eval(d) if d is not None else UNKNOWN)
        return env

    def module_constant(self, sf: SourceFile, name: str) -> Any:
        """A literal module-level constant, here or imported by name from another project module."""
        target = sf
        dotted = sf.aliases.get(name)
        if dotted:
            mod, _, name = dotted.rpartition(".")
            target = self.index.by_module.get(mod)  # type: ignore[assignment]
            if target is None:
                return UNKNOWN
        for node in target.tree.body if target.tree else []:
            if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == name for t in node.targets):
                try:
                    return ast.literal_eval(node.value)
                except (ValueError, TypeError, SyntaxError, RecursionError):
                    return UNKNOWN
        return UNKNOWN


class _Eval:
    """Evaluate one __init__ body: constants, arithmetic, layers, project submodules."""

    def __init__(self, deriver: ShapeDeriver, sf: SourceFile, env: dict[str, Any], depth: int,
                 stack: tuple[str, ...], out: Structure | None = None, fn: FunctionInfo | None = None):
        self.d, self.sf, self.env, self.depth, self.stack = deriver, sf, env, depth, stack
        self.out = out or Structure()
        self.fn = fn

    # -- statements ------------------------------------------------------------------------
    def run(self, body: list[ast.stmt]) -> None:
        for stmt in body:
            if isinstance(stmt, ast.Assign):
                value = self.eval(stmt.value)
                for target in stmt.targets:
                    self.assign(target, value)
            elif isinstance(stmt, ast.AnnAssign) and stmt.value is not None:
                self.assign(stmt.target, self.eval(stmt.value))
            elif isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Call):
                self.call_statement(stmt.value)
            elif isinstance(stmt, ast.If):
                test = self.eval(stmt.test)
                if test is UNKNOWN:
                    self.unknown_writes(stmt)
                else:
                    self.run(stmt.body if test else stmt.orelse)
            elif isinstance(stmt, (ast.For, ast.While, ast.With, ast.Try, ast.AsyncFor, ast.AsyncWith)):
                self.unknown_writes(stmt)

    def unknown_writes(self, stmt: ast.stmt) -> None:
        """Submodules set in loops or unknown branches: their contents are unresolved, not wrong."""
        for node in ast.walk(stmt):
            attr = None
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "self":
                if isinstance(node.ctx, ast.Store):
                    attr = node.attr
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
                owner = node.func.value
                if isinstance(owner, ast.Attribute) and isinstance(owner.value, ast.Name) and owner.value.id == "self":
                    attr = owner.attr
                elif isinstance(owner, ast.Name) and owner.id == "self" and node.func.attr in (
                        "add_module", "register_buffer", "register_parameter", "register_module"):
                    self.out.unresolved.append("")
            if attr is not None:
                self.out.remove(attr)
                self.out.unresolved.append(attr)
                self.env[f"self.{attr}"] = UNKNOWN

    def assign(self, target: ast.expr, value: Any) -> None:
        if isinstance(target, ast.Name):
            self.env[target.id] = value
        elif isinstance(target, ast.Attribute) and isinstance(target.value, ast.Name) and target.value.id == "self":
            self.env[f"self.{target.attr}"] = value
            self.out.remove(target.attr)
            if isinstance(value, Mod):
                self.out.add(target.attr, value.structure)
            elif isinstance(value, Tens) and value.parameter:
                self.out.tensors[target.attr] = value.shape
        elif isinstance(target, (ast.Tuple, ast.List)):
            values = value if isinstance(value, (tuple, list)) and len(value) == len(target.elts) else None
            for i, elt in enumerate(target.elts):
                self.assign(elt, values[i] if values else UNKNOWN)

    def call_statement(self, call: ast.Call) -> None:
        func = call.func
        if isinstance(func, ast.Attribute) and func.attr == "__init__":
            base = func.value
            if isinstance(base, ast.Call) and isinstance(base.func, ast.Name) and base.func.id == "super":
                self.super_init(call, None)
            elif hasattr(hit := self.d.index.resolve(self.sf, base), "node"):
                self.super_init(call, hit, skip_self=True)  # type: ignore[arg-type]
            return
        if not (isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) and func.value.id == "self"):
            if isinstance(func, ast.Attribute) and func.attr in ("append", "extend", "update"):
                owner = func.value
                if isinstance(owner, ast.Attribute) and isinstance(owner.value, ast.Name) and owner.value.id == "self":
                    self.out.remove(owner.attr)
                    self.out.unresolved.append(owner.attr)
            return
        args = [self.eval(a) for a in call.args]
        kw = {k.arg: self.eval(k.value) for k in call.keywords if k.arg}
        name = args[0] if args and isinstance(args[0], str) else None
        value = args[1] if len(args) > 1 else kw.get("tensor", kw.get("param", kw.get("module", UNKNOWN)))
        if func.attr in ("register_buffer", "register_parameter", "add_module", "register_module"):
            if name is None:
                self.out.unresolved.append("")
            elif isinstance(value, Mod):
                self.out.add(name, value.structure)
            elif isinstance(value, Tens):
                persistent = kw.get("persistent", args[2] if len(args) > 2 else True)
                if func.attr != "register_buffer" or persistent is not False:
                    self.out.tensors[name] = value.shape
                    if func.attr == "register_buffer":
                        self.out.buffers.add(name)
            elif value is None:
                pass
            else:
                self.out.unresolved.append(name)

    def super_init(self, call: ast.Call, base: ClassInfo | None, skip_self: bool = False) -> None:
        owner = self.fn.cls if self.fn is not None else None
        if base is None and owner is not None:
            mro = self.d.index.mro(owner)
            base = mro[1] if len(mro) > 1 else None
        if base is None or not isinstance(base, ClassInfo):
            return  # nn.Module.__init__: nothing to add
        raw = call.args[1:] if skip_self else call.args
        args = [self.eval(a) for a in raw]
        kw = {k.arg: self.eval(k.value) for k in call.keywords if k.arg}
        self.out.add("", self.d._derive(base, args, kw, self.depth + 1, self.stack))

    # -- expressions -----------------------------------------------------------------------
    def eval(self, node: ast.expr | None) -> Any:
        try:
            return self._eval(node)
        except (ArithmeticError, TypeError, ValueError, RecursionError, IndexError, KeyError):
            return UNKNOWN

    def _eval(self, node: ast.expr | None) -> Any:
        if node is None:
            return None
        if isinstance(node, ast.Constant):
            return node.value
        if isinstance(node, ast.Name):
            if node.id in self.env:
                return self.env[node.id]
            if node.id in ("True", "False", "None"):
                return {"True": True, "False": False, "None": None}[node.id]
            return self.d.module_constant(self.sf, node.id)
        if isinstance(node, ast.Attribute):
            if isinstance(node.value, ast.Name) and node.value.id == "self":
                return self.env.get(f"self.{node.attr}", UNKNOWN)
            return UNKNOWN
        if isinstance(node, ast.BinOp):
            left, right = self._eval(node.left), self._eval(node.right)
            op = _BINOPS.get(type(node.op))
            if op is None or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (left, right)):
                return UNKNOWN
            if isinstance(node.op, ast.Pow) and abs(right) > 64:
                return UNKNOWN
            return op(left, right)
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            v = self._eval(node.operand)
            return -v if isinstance(v, (int, float)) else UNKNOWN
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
            v = self._eval(node.operand)
            return UNKNOWN if v is UNKNOWN else not v
        if isinstance(node, ast.BoolOp):
            vals = [self._eval(v) for v in node.values]
            if UNKNOWN in vals:
                return UNKNOWN
            return all(vals) if isinstance(node.op, ast.And) else any(vals)
        if isinstance(node, ast.Compare) and len(node.ops) == 1:
            left, right = self._eval(node.left), self._eval(node.comparators[0])
            ops = {ast.Eq: operator.eq, ast.NotEq: operator.ne, ast.Lt: operator.lt, ast.Gt: operator.gt,
                   ast.LtE: operator.le, ast.GtE: operator.ge, ast.Is: operator.is_, ast.IsNot: operator.is_not}
            fn = ops.get(type(node.ops[0]))
            return UNKNOWN if fn is None or UNKNOWN in (left, right) else fn(left, right)
        if isinstance(node, ast.IfExp):
            test = self._eval(node.test)
            return UNKNOWN if test is UNKNOWN else self._eval(node.body if test else node.orelse)
        if isinstance(node, (ast.Tuple, ast.List)):
            return tuple(self._eval(e) for e in node.elts)
        if isinstance(node, ast.Dict):
            return {self._eval(k): self._eval(v) for k, v in zip(node.keys, node.values, strict=True)
                    if k is not None}
        if isinstance(node, (ast.ListComp, ast.GeneratorExp)):
            return self._comprehension(node)
        if isinstance(node, ast.Starred):
            return self._eval(node.value)
        if isinstance(node, ast.Call):
            return self._call(node)
        return UNKNOWN

    def _comprehension(self, node: ast.ListComp | ast.GeneratorExp) -> Any:
        if len(node.generators) != 1 or node.generators[0].ifs:
            return UNKNOWN
        gen = node.generators[0]
        seq = self._eval(gen.iter)
        if not isinstance(seq, (tuple, list, range)) or len(seq) > MAX_REPEAT:
            return UNKNOWN
        out = []
        for item in seq:
            saved = dict(self.env)
            self.assign(gen.target, item) if isinstance(gen.target, (ast.Name, ast.Tuple)) else None
            out.append(self._eval(node.elt))
            self.env = saved
        return tuple(out)

    def _call(self, node: ast.Call) -> Any:
        dotted = self.sf.resolve(node.func)
        args: list[Any] = []
        for a in node.args:
            v = self._eval(a)
            if isinstance(a, ast.Starred):
                if not isinstance(v, (tuple, list)):
                    return self._opaque(dotted)
                args.extend(v)
            else:
                args.append(v)
        kwargs = {k.arg: self._eval(k.value) for k in node.keywords if k.arg}
        if dotted in ("range",) and all(_ints(a) for a in args) and 1 <= len(args) <= 3:
            r = range(*args)
            return r if len(r) <= MAX_REPEAT else UNKNOWN
        if dotted in ("int", "float", "max", "min", "len", "abs", "round", "tuple", "list") and UNKNOWN not in args:
            return {"int": int, "float": float, "max": max, "min": min, "len": len, "abs": abs, "round": round,
                    "tuple": tuple, "list": tuple}[dotted](*args)
        if dotted in ("collections.OrderedDict", "dict") and len(args) == 1 and isinstance(args[0], tuple):
            return dict(args[0]) if all(isinstance(p, tuple) and len(p) == 2 for p in args[0]) else UNKNOWN
        if dotted and dotted.startswith("torch.") and dotted.rsplit(".", 1)[-1] in TENSOR_MAKERS:
            return self._tensor(dotted.rsplit(".", 1)[-1], args, kwargs)
        name = _nn_name(dotted)
        if name in ("Parameter", "parameter.Parameter"):
            t = args[0] if args else kwargs.get("data")
            return Tens(t.shape if isinstance(t, Tens) else None, parameter=True)
        if name is not None:
            return self._nn(name, args, kwargs, dotted)
        target = self.d.index.resolve(self.sf, node.func)
        if isinstance(target, ClassInfo) and self.d.index.is_module(target):
            return Mod(self.d._derive(target, args, kwargs, self.depth + 1, self.stack))
        return self._opaque(dotted)

    def _opaque(self, dotted: str | None) -> Any:
        # An unknown factory (timm.create_model, a helper) may build a module: keep it unresolved.
        return Mod(Structure(unresolved=[""]))

    def _tensor(self, maker: str, args: list[Any], kwargs: dict[str, Any]) -> Tens:
        if maker in ("zeros_like", "ones_like"):
            return Tens(args[0].shape if args and isinstance(args[0], Tens) else None)
        if maker == "tensor":
            return Tens(None)
        if maker == "eye":
            return Tens((args[0], args[1] if len(args) > 1 else args[0]) if args and _ints(*args[:2]) else None)
        if maker in ("full",) and args:
            args = [args[0]]
        if maker == "randint":
            size = kwargs.get("size", args[-1] if args else UNKNOWN)
            args = [size]
        if maker == "arange":
            return Tens(None)
        dims = args[0] if len(args) == 1 and isinstance(args[0], (tuple, list)) else tuple(args)
        if "size" in kwargs:
            dims = kwargs["size"]
        return Tens(tuple(dims) if isinstance(dims, (tuple, list)) and _ints(*dims) else None)

    def _nn(self, name: str, args: list[Any], kwargs: dict[str, Any], dotted: str | None) -> Any:
        if name in PARAM_FREE:
            return Mod(Structure())
        if name == "Sequential":
            if len(args) == 1 and isinstance(args[0], dict):
                return self._children(list(args[0].items()))
            return self._children([(str(i), a) for i, a in enumerate(args)])
        if name in ("ModuleList", "ParameterList"):
            seq = args[0] if args else kwargs.get("modules", kwargs.get("values", ()))
            if not isinstance(seq, (tuple, list)):
                return Mod(Structure(unresolved=[""]))
            return self._children([(str(i), a) for i, a in enumerate(seq)])
        if name in ("ModuleDict", "ParameterDict"):
            d = args[0] if args else kwargs.get("modules", kwargs.get("parameters", {}))
            return self._children(list(d.items())) if isinstance(d, dict) else Mod(Structure(unresolved=[""]))
        if name == "TransformerEncoder":
            layer, n = (args + [UNKNOWN, UNKNOWN])[:2]
            n = kwargs.get("num_layers", n)
            layer = kwargs.get("encoder_layer", layer)
            norm = kwargs.get("norm", args[2] if len(args) > 2 else None)
            if not (isinstance(layer, Mod) and _ints(n)) or n > MAX_REPEAT:
                return Mod(Structure(unresolved=[""]))
            items = [(f"layers.{i}", layer) for i in range(n)]
            return self._children(items + ([("norm", norm)] if isinstance(norm, Mod) else []))
        builder = LAYERS.get(name)
        if builder is None:
            return Mod(Structure(unresolved=[""]))
        try:
            built = builder(_Args(args, kwargs))
        except (TypeError, ValueError, ArithmeticError):
            built = None
        return Mod(built if built is not None else Structure(unresolved=[""]))

    def _children(self, items: list[tuple[Any, Any]]) -> Mod:
        s = Structure()
        for key, value in items:
            if isinstance(value, Mod):
                s.add(str(key), value.structure)
            elif isinstance(value, Tens):
                s.tensors[str(key)] = value.shape
            else:
                s.unresolved.append(str(key))
        return Mod(s)


@dataclass(frozen=True)
class Match:
    """How a checkpoint's model tensors line up with one class's derived structure."""

    cls: str
    matched: int
    missing: tuple[str, ...]
    unexpected: tuple[str, ...]
    wrong_shape: tuple[tuple[str, tuple[int, ...], tuple[int, ...]], ...]  # (name, checkpoint, class)
    covered_unresolved: int  # checkpoint tensors under the class's unresolved parts
    prefix: str  # stripped from checkpoint keys to align them

    @property
    def fits(self) -> bool:
        return not self.missing and not self.unexpected and not self.wrong_shape and self.matched > 0

    @property
    def exact(self) -> bool:
        return self.fits and not self.covered_unresolved

    @property
    def score(self) -> float:
        total = self.matched + len(self.missing) + len(self.unexpected) + len(self.wrong_shape)
        return (self.matched + 0.5 * self.covered_unresolved) / max(total + self.covered_unresolved, 1)


def match(cls: str, ckpt: dict[str, tuple[int, ...]], structure: Structure) -> Match:
    """Best alignment of checkpoint keys with the structure, trying one shared wrapper prefix off."""
    candidates = [""]
    heads = {k.split(".", 1)[0] for k in ckpt}
    if len(heads) == 1 and all("." in k for k in ckpt):
        candidates.append(next(iter(heads)) + ".")
    best: Match | None = None
    for prefix in candidates:
        keys = {k[len(prefix):]: v for k, v in ckpt.items()}
        m = _match(cls, keys, structure, prefix)
        if best is None or (m.fits, m.score) > (best.fits, best.score):
            best = m
    assert best is not None
    return best


def _match(cls: str, ckpt: dict[str, tuple[int, ...]], s: Structure, prefix: str) -> Match:
    matched, unexpected, wrong, covered = 0, [], [], 0
    unresolved = s.unresolved
    for name, shape in ckpt.items():
        if name in s.tensors:
            expected = s.tensors[name]
            if expected is None or tuple(expected) == tuple(shape):
                matched += 1
            else:
                wrong.append((name, tuple(shape), tuple(expected)))
        elif any(u == "" or name == u or name.startswith(u + ".") for u in unresolved):
            covered += 1
        else:
            unexpected.append(name)
    missing = tuple(sorted(k for k in s.tensors if k not in ckpt))
    return Match(cls, matched, missing, tuple(sorted(unexpected)), tuple(wrong), covered, prefix)
