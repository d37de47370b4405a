"""Dataset items made up where the data should be: the positions of `__getitem__`'s tuples the model is fed."""

from __future__ import annotations

import ast
from typing import TYPE_CHECKING

from trainaudit.evidence.flow import (
    LATENT_NAME,
    Kind,
    Origin,
    arg_for,
    callee_module,
    last_name,
    names_bound,
    names_in,
    origin_order,
    root_name,
)
from trainaudit.evidence.index import ClassInfo, FunctionInfo, scope_statements, walk_scope
from trainaudit.evidence.source import walk

if TYPE_CHECKING:
    from trainaudit.evidence.training import TrainingPath, TrainLoop

# Constant factories whose value is the tensor itself, unlike `empty`, whose contents are whatever is written in.
_CONSTANT_VALUES = frozenset({"zeros", "ones", "full", "zeros_like", "ones_like", "full_like", "tensor", "eye"})


def _constant_as_made(fn: ast.FunctionDef | ast.AsyncFunctionDef, elt: ast.expr) -> bool:
    """Whether a returned element that carries a constant is that constant as made: a constant factory's call
    (`torch.zeros(3, 224, 224)`), or a name bound to one that nothing in the function fills (no call takes it or
    is called on it, no item of it is assigned). A buffer filled in place holds what is written into it."""
    while isinstance(elt, ast.Call) and isinstance(elt.func, ast.Attribute) and elt.func.attr in ("float", "long"):
        elt = elt.func.value  # `torch.zeros(8).float()`
    if isinstance(elt, ast.Call):
        func = elt.func
        return (func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")) in _CONSTANT_VALUES
    if not isinstance(elt, ast.Name):
        return False  # an attribute: a buffer the object may fill anywhere
    name = elt.id
    for n in walk_scope(fn.body):
        if isinstance(n, ast.Call) and (any(isinstance(a, ast.Name) and a.id == name
                                            for a in [*n.args, *(k.value for k in n.keywords)])
                                        or isinstance(n.func, ast.Attribute) and root_name(n.func.value) == name):
            return False
        if isinstance(n, (ast.Subscript, ast.Attribute)) and isinstance(n.ctx, ast.Store) and root_name(n) == name:
            return False
        if isinstance(n, ast.Assign) and name in names_bound(n) and not _constant_as_made(fn, n.value):
            return False
    return True


def _last_name(expr: ast.expr) -> str:
    """The name an element is read from: `z`, `self.z[i]` -> `z`, `torch.randn(8)` -> ``."""
    while isinstance(expr, ast.Subscript):
        expr = expr.value
    return last_name(expr)


def _unpacked_batch(loop: TrainLoop) -> dict[str, int]:
    """The names a loop unpacks each batch into, by position: `for x, y in loader`, `for i, (x, y) in
    enumerate(loader)`, or `x, y = batch` on the loop's variable or on a training step's batch parameter. Empty
    when the loop iterates what is not one loader's batches (`zip(...)`, `range(...)`, a dict's items)."""
    node = loop.node
    batch: str | None = None
    if isinstance(node, (ast.For, ast.AsyncFor)):
        target, it = node.target, node.iter
        while isinstance(it, ast.Call) and last_name(it.func) in _BATCH_WRAPPERS and it.args:
            if last_name(it.func) == "enumerate":
                if not (isinstance(target, (ast.Tuple, ast.List)) and len(target.elts) == 2):
                    return {}
                target = target.elts[1]
            it = it.args[0]
        if isinstance(it, ast.Call) and last_name(it.func) in _NOT_BATCHES:
            return {}
        if isinstance(target, (ast.Tuple, ast.List)):
            return _tuple_names(target)
        batch = target.id if isinstance(target, ast.Name) else None
    elif loop.kind == "step-method" and loop.scope is not None and len(loop.scope.params) > 1:
        batch = loop.scope.params[1]
    if batch is None:
        return {}
    for n in loop.body():
        if isinstance(n, ast.Assign) and len(n.targets) == 1 and isinstance(n.targets[0], (ast.Tuple, ast.List)) \
                and isinstance(n.value, ast.Name) and n.value.id == batch:
            return _tuple_names(n.targets[0])
    return {}


# Losses that compare each output with its own target, and the casts a target may take on the way.
_POINTWISE_LOSSES = frozenset({"mse_loss", "l1_loss", "smooth_l1_loss", "huber_loss", "binary_cross_entropy",
                               "binary_cross_entropy_with_logits"})
_POINTWISE_LOSS_MODULES = frozenset({"MSELoss", "L1Loss", "SmoothL1Loss", "HuberLoss", "BCELoss", "BCEWithLogitsLoss"})
_REDUCTIONS = frozenset({"mean", "sum", "max", "min", "std", "var", "median", "norm", "amax", "amin", "prod",
                         "logsumexp", "cov", "cdist"})
# Iterables whose items are not one loader's batches.
_NOT_BATCHES = frozenset({"zip", "range", "map", "filter", "reversed", "sorted", "product", "repeat", "zip_longest",
                          "items", "values", "keys"})
# Wrappers whose items are their first argument's batches (`enumerate` pairs each with its index).
_BATCH_WRAPPERS = frozenset({"enumerate", "tqdm", "islice", "cycle", "chain"})


def _tuple_names(target: ast.Tuple | ast.List) -> dict[str, int]:
    return {e.id: i for i, e in enumerate(target.elts) if isinstance(e, ast.Name)}


def _names_reaching(loop: TrainLoop, exprs: list[ast.expr]) -> set[str]:
    """The names `exprs` read, and the names those were assigned from in the loop, and so on back."""
    sources: dict[str, set[str]] = {}
    for n in loop.body():
        if isinstance(n, (ast.Assign, ast.AugAssign, ast.AnnAssign)) and n.value is not None:
            read = set(names_in([n.value]))
            for name in names_bound(n):
                sources.setdefault(name, set()).update(read)
    todo = names_in(exprs)
    seen: set[str] = set()
    while todo:
        name = todo.pop()
        if name not in seen:
            seen.add(name)
            todo.extend(sources.get(name, ()))
    return seen


def made_up_items(path: TrainingPath, loop: TrainLoop) -> tuple[ClassInfo, list[Origin], list[Origin]] | None:
    """A project dataset whose items give the model only random or constant values while the labels the loss
    compares its output with come from data: `return torch.randn(3, 224, 224), self.labels[i]` in
    `__getitem__`. Flow merges a tuple's elements, so the loop would seem fed data; this reads the item's
    positions, as the loop unpacks each batch. The labels are what a supervised loss takes as its target (see
    _label_names): a generator's latents fitted to a batch statistic are not labelled noise. Returns the
    dataset, the random or constant origins of what reaches the model, and the labels' data."""
    flow, index = path.flow, path.index
    legit = path.latents | path.domain_points
    origins = {o for _, p in path.feeds(loop) for o in p if o.kind in (Kind.RANDOM, Kind.CONST) and o not in legit}
    classes = {id(c): c for o in origins if (c := index.class_at(o.path, o.line)) is not None}
    if not classes:  # nothing random or constant reached the model from a project class
        return None
    step: TrainLoop | None = loop
    if loop.kind == "fit":  # the batches go to the training step of the module fitted
        fitted = path.fitted(loop)
        step = next((lp for lp in path.loops if lp.kind == "step-method" and lp.scope is not None
                     and lp.scope.cls is not None and lp.scope.cls.qualname in fitted), None)
    positions = _unpacked_batch(step) if step is not None else {}
    if not positions or step is None:
        return None
    args = [a for call, _ in path.feeds(step) for a in (*call.args, *(k.value for k in call.keywords))]
    used = {positions[n] for n in _names_reaching(step, args) if n in positions}
    classes_of, targets_of = _label_names(path, step)
    labels = {positions[n] for n in classes_of | targets_of if n in positions} - used
    if not used or not labels:
        return None
    # Regression onto per-item latent codes (`return self.z[i], self.image[i]`: GLO, deep image prior) fits
    # codes to data; a classifier's input named like a latent is still noise scored against real classes.
    latents_ok = not {positions[n] for n in classes_of if n in positions} - used
    for cls in classes.values():
        m = index.method(cls, "__getitem__")
        if m is None or not index.is_dataset(cls) or flow.is_declared_data(cls.name):
            continue
        items = [s.value for s in scope_statements(m.node.body) if isinstance(s, ast.Return)]
        width = max(used | labels) + 1
        if not items or not all(isinstance(v, (ast.Tuple, ast.List)) and len(v.elts) >= width
                                for v in items):  # type: ignore[union-attr]
            continue
        if latents_ok and any(LATENT_NAME.fullmatch(_last_name(v.elts[i])) for v in items for i in used):  # type: ignore
            continue
        got = _item_origins(path, cls, m, items, used, labels)
        if got is not None:
            return cls, sorted(got[0], key=origin_order), sorted(got[1], key=origin_order)
    return None


def _label_names(path: TrainingPath, loop: TrainLoop) -> tuple[set[str], set[str]]:
    """The names a loop's supervised losses take as their targets: a classification loss's target, whatever it
    is made from; and apart, a pointwise loss's (MSE, L1, Huber, BCE), made elementwise (`y.float()`,
    `y / 1e5`, `torch.log1p(y)`, `y[:, None]`). A target reduced over the batch (`x.mean(0)`) is a
    distribution's statistic, not labels."""
    flow, sf, fn = path.flow, loop.file, loop.scope
    classes = _names_reaching(loop, [t for call, _, _ in path.class_targets(loop)
                                     if (t := arg_for(call, "target", 1)) is not None])
    names: set[str] = set()
    env = None
    for node in loop.body():
        if not isinstance(node, ast.Call) or not isinstance(node.func, (ast.Name, ast.Attribute)):
            continue
        target = arg_for(node, "target", 1)
        if target is None or any(isinstance(c, ast.Call) and last_name(c.func) in _REDUCTIONS for c in walk(target)):
            continue  # a statistic of the batch, not each item's target
        dotted = sf.resolve(node.func) or ""
        if not (dotted.startswith("torch.nn.functional.") and dotted.rpartition(".")[2] in _POINTWISE_LOSSES):
            env = env if env is not None else flow.env(sf, fn)
            cls = callee_module(flow, node, sf, fn, env) or ""
            if cls.rsplit(".", 1)[-1] not in _POINTWISE_LOSS_MODULES:
                continue
        names.update(names_in([target]))
    return classes, names


def _item_origins(path: TrainingPath, cls: ClassInfo, m: FunctionInfo, items: list[ast.expr], used: set[int],
                  labels: set[int]) -> tuple[set[Origin], set[Origin]] | None:
    """Over every item `__getitem__` returns: the random or constant origins of the positions the model is fed,
    and the data origins of the labels; None as soon as the model is fed anything else."""
    flow, legit = path.flow, path.latents | path.domain_points
    env = flow.env(cls.file, m)
    made: set[Origin] = set()
    real: set[Origin] = set()
    for v in items:
        elts: list[ast.expr] = v.elts  # type: ignore[attr-defined]
        for i in used:
            got = flow.concrete(flow.eval(elts[i], cls.file, m, env))
            if not got or any(o.kind not in (Kind.RANDOM, Kind.CONST) or o in legit for o in got):
                return None  # the model sees data, or what the loss judges by its role (latents, domain points)
            if any(o.kind is Kind.CONST for o in got) and not _constant_as_made(m.node, elts[i]):
                return None  # a buffer filled in place (`np.copyto(buf, row)`, `self.buf.copy_(x)`)
            made |= got
        real |= {o for i in labels for o in flow.concrete(flow.eval(elts[i], cls.file, m, env))
                 if o.kind is Kind.DATA}
    return (made, real) if made and real else None
