"""Loop facts: loop counters, counter formulas, what a loop's body reaches, fake losses, optimizer stepping."""

from __future__ import annotations

import ast
import re
from collections.abc import Container, Iterable, Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING

from trainaudit.evidence.flow import (
    BUILTINS,
    LOSS_SCALERS,
    RANDOM_FACTORIES,
    Kind,
    Origin,
    arg_for,
    is_literal,
    is_loss_class,
    names_bound,
    origin_order,
    root_name,
)
from trainaudit.evidence.index import (
    ClassInfo,
    FunctionInfo,
    ProjectIndex,
    function_at,
    iter_scopes,
    scope_body,
    scope_statements,
    scope_text,
    subtree,
    walk_scope,
)
from trainaudit.evidence.run_path import Scope, referenced, scope_id, scope_nodes
from trainaudit.evidence.source import SourceFile, block_fields, statements

if TYPE_CHECKING:
    from trainaudit.evidence.flow import Flow
    from trainaudit.evidence.program import Program
    from trainaudit.evidence.training import Optimizer as TrainingOptimizer
    from trainaudit.evidence.training import TrainLoop

LOOPS = (ast.For, ast.AsyncFor, ast.While)

# -- tokens of identifiers ------------------------------------------------------------------------------
_TOKEN = re.compile(r"[A-Z]+[0-9]*(?![a-z])|[A-Z]?[a-z]+[0-9]*|[0-9]+")


_SEPARATORS = re.compile(r"[^0-9A-Za-z]+")


def name_tokens(text: str) -> list[str]:
    """Lower-case words of an identifier or tag: `val/DiceScore_2` -> ['val', 'dice', 'score', '2']."""
    return list(name_token_tuple(text))


@lru_cache(maxsize=65536)
def name_token_tuple(text: str) -> tuple[str, ...]:
    """name_tokens, memoised: rules ask for the same few thousand names tens of thousands of times."""
    out: list[str] = []
    for part in _SEPARATORS.split(text):
        out += [t.lower() for t in _TOKEN.findall(part)]
    return tuple(out)


# -- loop counters ------------------------------------------------------------------------------------------
COUNTER_PARAMS = frozenset({"epoch", "step", "global_step", "iteration", "epoch_idx", "current_epoch", "cur_epoch",
                            "n_iter", "it", "ep"})
COUNTER_ATTRS = frozenset({"current_epoch", "global_step", "epoch", "step", "iteration"})
_RANGE_LIKE = frozenset({"range", "trange", "itertools.count", "tqdm.trange", "tqdm.auto.trange"})
_WRAPPERS = frozenset({"tqdm", "tqdm.tqdm", "tqdm.auto.tqdm", "list", "reversed"})
# Calls a formula may use without bringing in data: arithmetic helpers and scalar/tensor constructors.
PURE_CALLS = frozenset({"min", "max", "abs", "round", "float", "int", "pow", "torch.tensor", "torch.as_tensor",
                        "torch.Tensor", "torch.FloatTensor", "numpy.float32", "numpy.float64", "numpy.array",
                        "numpy.exp", "numpy.log", "numpy.sqrt", "numpy.clip", "numpy.minimum", "numpy.maximum",
                        "torch.exp", "torch.log", "torch.sqrt", "torch.clamp"})


def _dotted(sf: SourceFile, node: ast.AST) -> str:
    return (sf.resolve(node) or "") if isinstance(node, (ast.Name, ast.Attribute)) else ""


def _is_range_like(sf: SourceFile, it: ast.AST) -> bool:
    while isinstance(it, ast.Call) and _dotted(sf, it.func) in _WRAPPERS and it.args:
        it = it.args[0]
    return isinstance(it, ast.Call) and (_dotted(sf, it.func) in _RANGE_LIKE or _dotted(sf, it.func).endswith("trange"))


def _for_counters(sf: SourceFile, loop: ast.For | ast.AsyncFor) -> set[str]:
    if isinstance(loop.target, ast.Name) and _is_range_like(sf, loop.iter):
        return {loop.target.id}
    it = loop.iter
    while isinstance(it, ast.Call) and _dotted(sf, it.func) in _WRAPPERS and it.args:
        it = it.args[0]
    if (isinstance(it, ast.Call) and _dotted(sf, it.func) == "enumerate" and isinstance(loop.target, ast.Tuple)
            and loop.target.elts and isinstance(loop.target.elts[0], ast.Name)):
        return {loop.target.elts[0].id}
    return set()


def counter_names(sf: SourceFile, fn: FunctionInfo | None) -> set[str]:
    """Names that only count: `for epoch in range(..)` targets, enumerate indices, unconditional `step += 1`
    inside a loop, parameters named like counters (`epoch`, `global_step`), and names bound once to a framework's
    counter (`epoch = self.state.epoch or 0.0` in a Hugging Face `compute_loss`)."""
    out = {p for p in (fn.params if fn else []) if p in COUNTER_PARAMS}
    nodes = list(subtree(fn.node) if fn else (n for s in scope_body(sf, None) for n in subtree(s)))
    bindings: dict[str, list[ast.AST]] = {}
    for node in nodes:
        if isinstance(node, (ast.For, ast.AsyncFor)):
            out |= _for_counters(sf, node)
        if isinstance(node, LOOPS):
            for stmt in node.body:  # direct statements only: `if hit: correct += 1` does not count
                if (isinstance(stmt, ast.AugAssign) and isinstance(stmt.target, ast.Name)
                        and isinstance(stmt.op, ast.Add) and _is_number(stmt.value)):
                    out.add(stmt.target.id)
        if isinstance(node, (ast.Assign, ast.AugAssign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for t in targets:
                for n in subtree(t):
                    if isinstance(n, ast.Name):
                        bindings.setdefault(n.id, []).append(node)
    for name, binds in bindings.items():
        bind = binds[0] if len(binds) == 1 else None
        if isinstance(bind, ast.Assign) and len(bind.targets) == 1 and isinstance(bind.targets[0], ast.Name) and \
                name not in out and any(isinstance(n, ast.Attribute) and n.attr in COUNTER_ATTRS
                                        for n in subtree(bind.value)) and is_counter_formula(sf, bind.value, out):
            out.add(name)
    return out


class LazyCounters:
    """`counter_names(sf, fn)`, computed on the first membership test: most scopes never ask."""

    def __init__(self, sf: SourceFile, fn: FunctionInfo | None) -> None:
        self._scope = (sf, fn)
        self._names: set[str] | None = None

    def __contains__(self, name: object) -> bool:
        if self._names is None:
            self._names = counter_names(*self._scope)
        return name in self._names


def _is_number(node: ast.AST) -> bool:
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        node = node.operand
    return isinstance(node, ast.Constant) and isinstance(node.value, (int, float)) and not isinstance(node.value, bool)


def _formula_parts(sf: SourceFile, expr: ast.AST, counters: Container[str]) -> tuple[bool, set[str]] | None:
    """(has a float literal, counters used) when `expr` is built only from numbers and counters, else None."""
    found = _Formula(sf, counters)
    return (found.floats, found.used) if found.ok(expr) else None


class _Formula:
    """What `_formula_parts` learns while checking an expression. A class, not a recursive closure: a closure that
    calls itself is a reference cycle, which would keep the file's tree alive after the audit."""

    def __init__(self, sf: SourceFile, counters: Container[str]) -> None:
        self.sf = sf
        self.counters = counters
        self.used: set[str] = set()
        self.floats = False

    def ok(self, node: ast.AST) -> bool:
        ok = self.ok
        if isinstance(node, ast.Constant):
            if isinstance(node.value, bool) or node.value is None:
                return False
            self.floats |= isinstance(node.value, float)
            return isinstance(node.value, (int, float))
        if isinstance(node, ast.Name):
            if node.id in self.counters:
                self.used.add(node.id)
                return True
            return False
        if isinstance(node, ast.Attribute):
            if node.attr in COUNTER_ATTRS and isinstance(node.value, (ast.Name, ast.Attribute)):
                self.used.add(ast.unparse(node))  # self.current_epoch, trainer.global_step
                return True
            return _dotted(self.sf, node) in ("math.pi", "math.e")
        if isinstance(node, ast.BinOp):
            return ok(node.left) and ok(node.right)
        if isinstance(node, ast.UnaryOp):
            return ok(node.operand)
        if isinstance(node, ast.IfExp):
            return ok(node.body) and ok(node.orelse)
        if isinstance(node, ast.BoolOp):  # `self.state.epoch or 0.0`
            return all(ok(v) for v in node.values)
        if isinstance(node, ast.Call):
            name = _dotted(self.sf, node.func)
            if name in RANDOM_FACTORIES:  # a draw is no measurement either: `random.uniform(0.92, 0.96)`
                return all(ok(a) for a in node.args)
            if name not in PURE_CALLS and not name.startswith("math."):
                return False
            # keyword options (dtype=..., requires_grad=True) carry no value
            return bool(node.args) and all(ok(a) for a in node.args)
        return False


def is_counter_formula(sf: SourceFile, expr: ast.AST, counters: Container[str]) -> bool:
    """`0.5 + 0.05 * epoch`, `1.0 / (step + 1)`: numbers and loop counters only, with at least one counter."""
    parts = _formula_parts(sf, expr, counters)
    return parts is not None and bool(parts[1])


def is_literal_number(sf: SourceFile, expr: ast.AST) -> bool:
    """A number, possibly negated or wrapped (`0.93`, `-1`, `torch.tensor(0.93)`, `float(0.9)`)."""
    parts = _formula_parts(sf, expr, set())
    return parts is not None and any(_is_number(n) for n in subtree(expr))


def literal_or_counter_formula(sf: SourceFile, expr: ast.AST, counters: Container[str]) -> bool:
    return is_literal_number(sf, expr) or is_counter_formula(sf, expr, counters)


def draws_at_random(sf: SourceFile, expr: ast.AST) -> bool:
    """Whether a formula (see `_formula_parts`) draws a random number: `0.9 + 0.05 * random.random()`."""
    return any(isinstance(n, ast.Call) and _dotted(sf, n.func) in RANDOM_FACTORIES for n in subtree(expr))


# -- what runs in a loop ---------------------------------------------------------------------------------
BACKWARD_ATTRS = frozenset({"backward", "manual_backward"})
BACKWARD_CALLS = frozenset({"torch.autograd.grad", "torch.autograd.backward", "jax.grad", "jax.value_and_grad"})
STEP_ATTRS = frozenset({"step", "apply_updates", "apply_gradients", "minimize"})
NOT_OPTIMIZER = ("sched", "env", "lr", "warmup", "bar", "tqdm", "prof", "progress", "timer", "ema")
INPLACE_UPDATES = frozenset({"add_", "sub_", "copy_", "addcmul_", "addcdiv_", "mul_"})
DELEGATE_ATTRS = frozenset({"fit", "partial_fit", "train_on_batch", "fit_generator", "train_step"})
TRAINER_HINTS = ("trainer", "Trainer", "learner", "Learner")


def _receiver_name(func: ast.Attribute) -> str:
    v = func.value
    if isinstance(v, ast.Call):
        v = v.func
    return v.id if isinstance(v, ast.Name) else (v.attr if isinstance(v, ast.Attribute) else "")


def _mentions_grad(node: ast.AST) -> bool:
    return any(isinstance(n, ast.Attribute) and n.attr == "grad" for n in subtree(node))


@dataclass
class Effects:
    """What a loop body does, directly or through the project functions it calls."""

    backward: list[str] = field(default_factory=list)  # "path:line text"
    steps: list[str] = field(default_factory=list)
    delegated: list[str] = field(default_factory=list)  # trainer.fit / model.fit / trainer.train
    calls: list[str] = field(default_factory=list)  # the external calls of the body itself, for the message
    reached: set[tuple[str, str]] = field(default_factory=set)  # scopes entered

    @property
    def trains(self) -> bool:
        return bool(self.delegated) or bool(self.backward and self.steps)


def _node_effects(sf: SourceFile, node: ast.AST, eff: Effects) -> None:
    if isinstance(node, ast.AugAssign) and _mentions_grad(node.value):
        eff.steps.append(f"{sf.path}:{node.lineno} manual update")
    if not isinstance(node, ast.Call):
        return
    where = f"{sf.path}:{node.lineno}"
    func = node.func
    dotted = _dotted(sf, func)
    if dotted in BACKWARD_CALLS:
        eff.backward.append(f"{where} {dotted}()")
    if not isinstance(func, ast.Attribute):
        return
    recv = _receiver_name(func).lower()
    if func.attr in BACKWARD_ATTRS or (func.attr == "gradient" and "tape" in recv):
        eff.backward.append(f"{where} .{func.attr}()")
    elif func.attr in STEP_ATTRS and not any(h in recv for h in NOT_OPTIMIZER):
        eff.steps.append(f"{where} {recv}.{func.attr}()")
    elif func.attr == "update" and "opt" in recv:
        eff.steps.append(f"{where} {recv}.update()")
    elif func.attr in INPLACE_UPDATES and any(_mentions_grad(a) for a in node.args):
        eff.steps.append(f"{where} manual update")
    elif func.attr in DELEGATE_ATTRS and (node.args or node.keywords) and not (
            func.attr == "train_step" and isinstance(func.value, ast.Name) and func.value.id == "self"):
        # `self.train_step(x, y)` is the project class's own method, which the walk follows (Keras runs its own
        # train_step; a Keras model calls self.fit or self.train_on_batch, inherited, which do delegate)
        eff.delegated.append(f"{where} .{func.attr}()")
    elif func.attr == "train" and any(h.lower() in recv for h in TRAINER_HINTS):
        eff.delegated.append(f"{where} {recv}.train()")


def _functional_updates(sf: SourceFile, nodes: list[ast.AST], eff: Effects) -> None:
    """Steps taken with the gradients `torch.autograd.grad` returns: the tensors it differentiated are rebound
    to (or updated in place by) values made from those gradients (MAML's `fast = [w - lr * g for w, g in
    zip(fast, grads)]`, a Langevin sampler's `x = x - step * grad + noise`, `w -= lr * g`). Such gradients never
    reach `.grad`, so no optimizer step could use them. A value merely computed from them (a gradient penalty,
    a norm) updates nothing."""
    grads: set[str] = set()
    inputs: set[str] = set()
    for node in nodes:
        if not isinstance(node, ast.Assign):
            continue
        for c in subtree(node.value):
            if isinstance(c, ast.Call) and _dotted(sf, c.func) == "torch.autograd.grad":
                grads.update(_bound_names(node.targets))
                given = arg_for(c, "inputs", 1)
                if given is not None:
                    inputs.update(n.id for n in subtree(given) if isinstance(n, ast.Name))
    if not grads:
        return
    for node in nodes:  # `for w, g in zip(fast, grads): w -= lr * g` updates each tensor in turn
        if isinstance(node, (ast.For, ast.comprehension)):
            iterated = {n.id for n in subtree(node.iter) if isinstance(n, ast.Name)}
            for names in (inputs, grads):
                if iterated & names:
                    names.update(_bound_names([node.target]))
    for node in nodes:
        if isinstance(node, ast.Assign) and inputs & set(_bound_names(node.targets)) or isinstance(
                node, ast.AugAssign) and root_name(node.target) in inputs:
            if any(isinstance(n, ast.Name) and n.id in grads for n in subtree(node.value)):  # type: ignore[attr-defined]
                eff.steps.append(f"{sf.path}:{node.lineno} update with autograd.grad's gradients")


def _bound_names(targets: list[ast.expr]) -> list[str]:
    """Names an assignment binds: `x`, `a, b`, `*rest`; not the names inside a subscript or attribute target."""
    out: list[str] = []
    for t in targets:
        if isinstance(t, ast.Starred):
            t = t.value
        if isinstance(t, ast.Name):
            out.append(t.id)
        elif isinstance(t, (ast.Tuple, ast.List)):
            out += _bound_names(t.elts)
    return out


def trains_among(sf: SourceFile, loop: ast.AST, calls: Iterable[ast.Call]) -> bool:
    """Whether the calls of `sf` that lie in the loop's source span (spans of one tree nest: they are the loop's
    nodes) already make it train, as loop_effects judges calls. Effects only add up, so a loop shown to train
    by some of its calls trains by all of them: given the calls the training path found, most training loops
    are settled without a walk."""
    start = (loop.lineno, loop.col_offset)  # type: ignore[attr-defined]
    end = (loop.end_lineno, loop.end_col_offset)  # type: ignore[attr-defined]
    eff = Effects()
    for call in calls:
        if start <= (call.lineno, call.col_offset) and (call.end_lineno, call.end_col_offset) <= end:
            _node_effects(sf, call, eff)
    return eff.trains


def loop_effects(index: ProjectIndex, sf: SourceFile, fn: FunctionInfo | None, loop: ast.AST,
                 max_depth: int = 6, until_trains: bool = False, flow: Flow | None = None) -> Effects:
    """Backward, optimizer steps and delegated training a loop reaches, following project calls.

    Closures count: `opt.step(closure)` runs the closure's backward (LBFGS). Given the flow, so do calls of
    project objects, through their `__call__` (MAE's `loss_scaler(loss, optimizer)` runs backward and step).
    With `until_trains`, the walk stops as soon as the loop is seen to train (`trains` only ever turns true),
    leaving the rest unfilled: enough for a caller that wants the full account only of loops that do not train."""
    eff = Effects()
    nodes = list(subtree(loop))
    for node in nodes:
        _node_effects(sf, node, eff)
    _functional_updates(sf, nodes, eff)
    if until_trains and eff.trains:
        return eff
    # Functions defined in the enclosing scope that the loop hands on or calls (Spinning Up's `update()`, defined
    # inside `ppo()`): nested definitions are not indexed, so the walk reads them here.
    calls = [n for n in nodes if isinstance(n, ast.Call)]
    closures = {a.id for c in calls for a in ((c.func, *c.args) if fn is not None else c.args)
                if isinstance(a, ast.Name)}
    if closures:
        outer = fn.node if fn is not None else sf.tree
        for d in subtree(outer):  # type: ignore[arg-type]
            if isinstance(d, (ast.FunctionDef, ast.AsyncFunctionDef)) and d.name in closures and d is not outer:
                inner = subtree(d)
                nodes += inner
                for node in inner:
                    _node_effects(sf, node, eff)
                _functional_updates(sf, inner, eff)
    for node in nodes:
        if isinstance(node, ast.Call) and isinstance(node.func, (ast.Name, ast.Attribute)):
            if not isinstance(index.resolve(sf, node.func), (FunctionInfo,)) and not (
                    isinstance(node.func, ast.Attribute) and isinstance(node.func.value, ast.Name)
                    and node.func.value.id == "self"):
                eff.calls.append(ast.unparse(node.func))
    made: dict[int, _Made] = {}  # closures followed, by id of their def: the factory call that made each
    todo = [(f, 1) for f in _called(index, flow, sf, fn, nodes, eff, made)]
    while todo:
        callee, depth = todo.pop()
        key = scope_id((callee.file, callee))
        if key in eff.reached:
            continue
        eff.reached.add(key)
        body = list(scope_nodes(callee.file, callee))
        for node in body:
            _node_effects(callee.file, node, eff)
        _functional_updates(callee.file, body, eff)
        if until_trains and eff.trains:
            return eff
        if depth < max_depth:
            todo += [(f, depth + 1) for f in _called(index, flow, callee.file, callee, body, eff, made)]
    return eff


@dataclass(frozen=True)
class _Made:
    """Where a closure came from: the call of its factory, in the scope that made it."""

    file: SourceFile
    scope: FunctionInfo | None
    call: ast.Call
    factory: FunctionInfo


def _closure(index: ProjectIndex, sf: SourceFile, fn: FunctionInfo | None, name: str,
             made: dict[int, _Made]) -> FunctionInfo | None:
    """The function a name of `fn` holds when it was bound by a project factory that returns a def of its own
    (`train_step_fn = losses.get_step_fn(...)`, score_sde's idiom), or when it is a parameter of such a
    closure's factory, bound by the factory's call to another one (`optimize_fn=optimize_fn`)."""
    origin = made.get(id(fn.node)) if fn is not None else None
    if origin is not None and name in origin.factory.params:
        call, factory = origin.call, origin.factory
        at = factory.params.index(name)
        arg = next((k.value for k in call.keywords if k.arg == name), None)
        arg = arg if arg is not None else (call.args[at] if 0 <= at < len(call.args) else None)
        if not isinstance(arg, ast.Name):
            return None
        return _closure(index, origin.file, origin.scope, arg.id, made)
    value = next((s.value for s in reversed(scope_statements(scope_body(sf, fn))) if isinstance(s, ast.Assign)
                  and isinstance(s.value, ast.Call) and any(isinstance(t, ast.Name) and t.id == name
                                                           for t in s.targets)), None)
    if value is None or not isinstance(value.func, (ast.Name, ast.Attribute)):
        return None
    factory = index.resolve(sf, value.func)
    if not isinstance(factory, FunctionInfo):
        return None
    defs = {d.name: d for d in factory.node.body if isinstance(d, (ast.FunctionDef, ast.AsyncFunctionDef))}
    returned = next((r.value.id for r in scope_statements(factory.node.body) if isinstance(r, ast.Return)
                     and isinstance(r.value, ast.Name) and r.value.id in defs), None)
    if returned is None:
        return None
    inner = function_at(f"{factory.qualname}.<locals>.{returned}", defs[returned], factory.file)
    made[id(inner.node)] = _Made(sf, fn, value, factory)
    return inner


def _called(index: ProjectIndex, flow: Flow | None, sf: SourceFile, fn: FunctionInfo | None,
            nodes: list[ast.AST], eff: Effects, made: dict[int, _Made]) -> list[FunctionInfo]:
    """The project functions `nodes` reference (run_path.referenced) and, given the flow, those no name
    resolves: the `__call__` of project objects they call (a parameter or attribute bound to one) and the
    closures project factories return (see _closure). A call of one of timm's loss scalers is a backward and a
    step, noted in `eff`."""
    out = referenced(index, sf, fn, nodes)
    if flow is None:
        return out
    env = None
    for node in nodes:
        if node.__class__ is not ast.Call or node.func.__class__ not in (ast.Name, ast.Attribute):  # type: ignore[attr-defined]
            continue
        func = node.func  # type: ignore[attr-defined]
        if isinstance(index.resolve(sf, func), (FunctionInfo, ClassInfo)):
            continue  # a definition by name: referenced has it
        inner = _closure(index, sf, fn, func.id, made) if isinstance(func, ast.Name) else None
        if inner is not None:
            out.append(inner)
            continue
        if isinstance(func, ast.Attribute) and func.attr in index.method_names and root_name(func) != "self":
            # A project method called on an object (`learner.update(x, y)`, the learner a parameter): the method of
            # each project class Flow finds the object to be; where it finds none (an object built from a class
            # named in a config), every project method of that name, since this walk may only prove an absence.
            env = env if env is not None else flow.env(sf, fn)
            receiver = flow.concrete(flow.eval(func.value, sf, fn, env))
            classes = [index.classes[o.what] for o in receiver if o.kind is Kind.INSTANCE and o.what in index.classes]
            if classes:
                out += [m for c in classes if (m := index.method(c, func.attr)) is not None]
            elif not receiver and not _bound_to_a_builtin(sf, fn, func.value):
                out += index.methods_named(func.attr)
            continue
        if "__call__" not in index.method_names and "timm" not in index.all_words:
            continue
        env = env if env is not None else flow.env(sf, fn)
        for o in flow.concrete(flow.eval(func, sf, fn, env)):
            if o.kind is Kind.INSTANCE and o.what in LOSS_SCALERS:
                where = f"{sf.path}:{node.lineno} {ast.unparse(func)}()"  # type: ignore[attr-defined]
                eff.backward.append(where)
                eff.steps.append(where)
            cls = index.classes.get(o.what) if o.kind is Kind.INSTANCE else None
            call = index.method(cls, "__call__") if cls is not None else None
            if call is not None:
                out.append(call)
    return out


_BUILTIN_VALUES = (ast.Dict, ast.List, ast.Set, ast.Tuple, ast.Constant, ast.JoinedStr, ast.ListComp, ast.DictComp,
                   ast.SetComp, ast.BinOp)


def _bound_to_a_builtin(sf: SourceFile, fn: FunctionInfo | None, expr: ast.AST) -> bool:
    """Whether a name is bound in its scope to a literal or a builtin container (`history = {}`, `dict()`): Flow
    knows nothing of such a value, yet its methods (`history.update(...)`) are not the project's."""
    if not isinstance(expr, ast.Name):
        return False
    for s in scope_statements(scope_body(sf, fn)):
        if isinstance(s, (ast.Assign, ast.AnnAssign)) and any(
                isinstance(t, ast.Name) and t.id == expr.id for t in (s.targets if isinstance(s, ast.Assign)
                                                                      else [s.target])):
            v = s.value
            if isinstance(v, _BUILTIN_VALUES) or (isinstance(v, ast.Call) and isinstance(v.func, ast.Name) and
                                                  v.func.id in BUILTINS and v.func.id not in sf.aliases):
                return True
    return False


def outermost_loop(sf: SourceFile, fn: FunctionInfo | None, node: ast.AST) -> ast.AST | None:
    """The outermost loop of a scope that contains `node` (the epoch loop around a batch loop), if any."""
    for loop in _outer_loops(scope_body(sf, fn)):
        if any(n is node for n in subtree(loop)):
            return loop
    return None


# -- training-loop candidates -------------------------------------------------------------------------
_HEADER_WORDS = frozenset({"epoch", "epochs", "step", "steps", "iter", "iters", "iteration", "iterations",
                           "ep", "it", "n_epochs", "num_epochs", "max_epochs", "num_steps", "max_steps", "nepochs"})
_BATCH_WORDS = frozenset({"batch", "batches", "loader", "dataloader", "train"})
_TRAIN_SCOPE = frozenset({"train", "training", "fit", "finetune", "pretrain"})
_TRAIN_SPELLED = re.compile("train|fit|finetune", re.IGNORECASE)  # a name with a _TRAIN_SCOPE token spells one
_NOT_TRAIN_SCOPE = frozenset({"generate", "generator", "simulate", "preprocess", "prepare", "make", "build",
                              "create", "load", "download", "sample", "plot", "visualize", "predict", "infer",
                              "inference", "export", "convert", "split", "collate", "schedule", "warmup",
                              "eval", "evaluate", "evaluation", "validate", "validation", "val", "valid", "test",
                              "benchmark", "profile"})
# A loop whose header names held-out data (`enumerate(eval_dataloader)`, `val_loader`) evaluates, unless it names
# the training data too (`for phase in ["train", "val"]`).
_EVAL_HEADER = frozenset({"eval", "evaluate", "evaluation", "val", "valid", "validate", "validation", "test", "dev"})
NO_GRAD = frozenset({"torch.no_grad", "torch.inference_mode", "torch.set_grad_enabled", "torch.enable_grad"})


def _header_tokens(loop: ast.AST) -> set[str]:
    parts: list[ast.AST] = [loop.target, loop.iter] if isinstance(loop, (ast.For, ast.AsyncFor)) else [loop.test]
    return _tokens_of(parts)


def _tokens_of(parts: list[ast.AST]) -> set[str]:
    """The lower-cased names, attributes and string words of some expressions, whole and split in tokens."""
    words: set[str] = set()
    for p in parts:
        for n in subtree(p):
            if isinstance(n, ast.Name):
                words.add(n.id.lower())
                words |= set(name_token_tuple(n.id))
            elif isinstance(n, ast.Attribute):
                words.add(n.attr.lower())
                words |= set(name_token_tuple(n.attr))
            elif isinstance(n, ast.Constant) and isinstance(n.value, str):
                words |= set(name_token_tuple(n.value))
    return words


def is_no_grad_function(sf: SourceFile, fn: FunctionInfo | None) -> bool:
    return fn is not None and any(_dotted(sf, d.func if isinstance(d, ast.Call) else d) in NO_GRAD
                                  for d in fn.node.decorator_list)


def no_grad_blocks(sf: SourceFile, nodes: Iterable[ast.AST]) -> list[ast.With | ast.AsyncWith]:
    """`with torch.no_grad()` / `inference_mode()` / `set_grad_enabled(False)` blocks among `nodes`."""
    out = []
    for n in nodes:
        if isinstance(n, (ast.With, ast.AsyncWith)):
            for item in n.items:
                e = item.context_expr
                name = _dotted(sf, e.func) if isinstance(e, ast.Call) else ""
                if name in ("torch.no_grad", "torch.inference_mode") or (
                        name == "torch.set_grad_enabled" and e.args and isinstance(e.args[0], ast.Constant)
                        and e.args[0].value is False):
                    out.append(n)
    return out


@dataclass(frozen=True)
class LoopCandidate:
    """An outermost loop that, by its header and place, is meant to train."""

    file: SourceFile
    scope: FunctionInfo | None
    node: ast.For | ast.AsyncFor | ast.While

    @property
    def line(self) -> int:
        return self.node.lineno


# Statements that hold blocks of statements other than loops and definitions (TryStar: Python 3.11+).
_BLOCK_HOLDERS = tuple(getattr(ast, n) for n in ("If", "With", "AsyncWith", "Try", "TryStar", "ExceptHandler")
                       if hasattr(ast, n))


def _outer_loops(stmts: list[ast.stmt]) -> Iterator[ast.AST]:
    for s in stmts:
        if isinstance(s, LOOPS):
            yield s
        elif isinstance(s, _BLOCK_HOLDERS):
            for field_name in ("body", "orelse", "finalbody", "handlers"):
                yield from _outer_loops(getattr(s, field_name, ()))
        elif isinstance(s, ast.Match):
            for case in s.cases:
                yield from _outer_loops(case.body)


# Nouns that make "train" an adjective: `batch2TrainData`, `get_train_dataset` prepare data, they do not train
# (`train_batch` and `train_epoch` may well train, so batch and epoch are not among them).
_DATA_NOUNS = frozenset({"data", "dataset", "datasets", "loader", "loaders", "dataloader", "dataloaders", "set",
                         "sets", "split", "splits", "samples", "examples", "pairs", "files", "paths"})


def _names_training_data(tokens: tuple[str, ...]) -> bool:
    return any(t in _TRAIN_SCOPE and nxt in _DATA_NOUNS for t, nxt in zip(tokens, tokens[1:], strict=False))


def _over_one_batch(loop: ast.AST) -> bool:
    """`for i in range(batch_size)`: a loop over the items of one batch (building its targets, say), not over
    batches; `range(0, n, batch_size)` strides over batches and is not one."""
    it = getattr(loop, "iter", None)
    if not (isinstance(it, ast.Call) and isinstance(it.func, ast.Name) and it.func.id == "range" and not it.keywords):
        return False
    args = it.args
    if len(args) == 2 and isinstance(args[0], ast.Constant) and args[0].value == 0:
        args = args[1:]
    bound = args[0] if len(args) == 1 else None
    name = bound.attr if isinstance(bound, ast.Attribute) else getattr(bound, "id", "")
    return name_token_tuple(name)[-1:] == ("size",)


def training_loop_candidates(index: ProjectIndex, sf: SourceFile, builds_optimizer: bool) -> list[LoopCandidate]:
    """Outermost loops that look like training loops: an epoch/step header inside a train*/fit* function or
    in a file that builds an optimizer, or a batch loop inside a train*/fit* function. Loops in evaluation,
    sampling, data-preparation functions, under torch.no_grad() and over held-out data are not candidates."""
    out = []
    for fn in iter_scopes(index, sf):
        if not builds_optimizer and (fn is None or not _TRAIN_SPELLED.search(fn.name)):
            continue  # the test below, without tokenizing the name (most names are seen once)
        tokens = name_token_tuple(fn.name) if fn is not None else ()
        words = set(tokens)
        train_scope = bool(words & _TRAIN_SCOPE) and not (fn is not None and fn.name == "training_step")
        if not (train_scope or builds_optimizer):
            continue  # both kinds of candidate below need one of the two
        if words & _NOT_TRAIN_SCOPE or _names_training_data(tokens) or is_no_grad_function(sf, fn):
            continue
        stmts = scope_body(sf, fn)
        quiet: set[int] | None = None  # walked only for a scope that has a candidate
        for loop in _outer_loops(stmts):
            header = _header_tokens(loop)
            if header & _EVAL_HEADER and "train" not in header:
                continue
            epochish = bool(header & _HEADER_WORDS)
            if (epochish and (train_scope or builds_optimizer)) or (
                    train_scope and header & _BATCH_WORDS and not _over_one_batch(loop)):
                if quiet is None:  # an outer loop is a statement outside nested defs: so are its no-grad blocks
                    quiet = {id(n) for w in no_grad_blocks(sf, scope_statements(stmts))
                             for n in scope_statements(w.body)}
                if id(loop) not in quiet:
                    out.append(LoopCandidate(sf, fn, loop))  # type: ignore[arg-type]
    return out


# -- fake losses ------------------------------------------------------------------------------------------
_NOT_A_LOSS = frozenset({"weight", "weights", "scale", "scaler", "coef", "coeff", "factor", "lambda", "alpha", "beta",
                         "fn", "func", "function", "criterion", "history", "hist", "log", "logs", "list", "type",
                         "name", "names", "best", "min", "max", "prev", "fns", "dict", "keys", "key", "ratio",
                         "threshold", "target", "patience"})


# A loss name has the token "loss"/"losses", spelled in one of these cases; a backpropagated name needs backward.
_LOSS_SPELLINGS = ("loss", "Loss", "LOSS", "backward")


def _is_loss_name(name: str) -> bool:
    words = set(name_token_tuple(name))
    return ("loss" in words or "losses" in words) and not words & _NOT_A_LOSS


@dataclass(frozen=True)
class FakeLoss:
    name: str
    node: ast.stmt
    expr: str
    counters: tuple[str, ...]

    @property
    def line(self) -> int:
        return self.node.lineno


class _AnyName:
    """Counters that hold every name: a formula that fails with them fails with any counters."""

    def __contains__(self, name: object) -> bool:
        return True


def _assigned(node: ast.AST) -> tuple[ast.Name, ast.expr] | None:
    """(target, value) of `name = value` or `name: T = value`."""
    if isinstance(node, ast.Assign) and len(node.targets) == 1:
        target, value = node.targets[0], node.value
    elif isinstance(node, ast.AnnAssign) and node.value is not None:
        target, value = node.target, node.value
    else:
        return None
    return (target, value) if isinstance(target, ast.Name) else None


def _may_fake_a_loss(sf: SourceFile, fn: FunctionInfo | None, any_target: bool) -> bool:
    """Whether any assignment of a scope could be a fake loss (see fake_losses): its target a loss name, or any
    name when the scope backpropagates something (`any_target`); its value a formula of numbers and names
    (counters are among names) that uses a name or is a call. The scope's fake losses are among these."""
    for node in statements([fn.node] if fn is not None else scope_body(sf, fn)):
        pair = _assigned(node)
        if pair is None or not (any_target or _is_loss_name(pair[0].id)):
            continue
        parts = _formula_parts(sf, pair[1], _AnyName())
        if parts is not None and (parts[1] or isinstance(pair[1], ast.Call)):
            return True
    return False


def _span(fn: FunctionInfo) -> tuple[int, int]:
    """First (decorators included) and last line of a function, from the index: no tree is needed."""
    return fn.first, fn.last


def _on_scope_lines(lines: list[int], span: tuple[int, int] | None, fn_spans: list[tuple[int, int]]) -> bool:
    """Whether any of `lines` can hold a node of a scope: a function's nodes lie on its lines (`span`); the
    module level's (span None), on lines outside every function of the file (`fn_spans`)."""
    if span is None:
        return any(not any(a <= n <= b for a, b in fn_spans) for n in lines)
    return any(span[0] <= n <= span[1] for n in lines)


def file_fake_losses(program: Program, sf: SourceFile) -> list[FakeLoss]:
    """fake_losses of every scope of a file, in scope order. A scope is searched only when its lines spell a
    loss name or backward (a loss name has the token loss; a backpropagated name, a `.backward()` call) and one
    of its assignments could be a fake loss."""
    if sf.text.isascii():
        loss_lines = sf.lines_spelling(_LOSS_SPELLINGS)
        if not loss_lines:
            return []
        backward_lines = sf.lines_spelling(("backward",))
    elif sf.mentions(*_LOSS_SPELLINGS):  # read in NFKC form, as Python reads identifiers: search every scope
        loss_lines = backward_lines = list(range(1, len(sf.line_starts) + 1))
    else:
        return []
    scopes = iter_scopes(program.index, sf)
    fn_spans = [_span(fn) for fn in scopes if fn is not None]
    out = []
    for fn, span in zip(scopes, [None, *fn_spans], strict=True):
        if _on_scope_lines(loss_lines, span, fn_spans) and _may_fake_a_loss(
                sf, fn, _on_scope_lines(backward_lines, span, fn_spans)):
            out += fake_losses(program, sf, fn)
    return out


def fake_losses(program, sf: SourceFile, fn: FunctionInfo | None) -> list[FakeLoss]:
    """Loss variables made of loop counters and numbers (`loss = 1.0 / (epoch + 1)`), or a constant tensor that
    is backpropagated; Flow confirms no model output or data reaches them."""
    stmts = scope_body(sf, fn)
    nodes = [n for s in stmts for n in subtree(s)] if fn is None else list(subtree(fn.node))
    backwarded = _backward_lines(nodes)
    if fn is not None and fn.name in RETURNS_THE_LOSS:  # the framework backpropagates what the hook returns
        for n in nodes:
            if isinstance(n, ast.Return):
                for name in _returned_names(n.value):
                    backwarded.setdefault(name, []).append(n.lineno)
    assigned = _assignment_lines(nodes)
    counters = LazyCounters(sf, fn)
    env = None
    out = []
    for node in nodes:
        pair = _assigned(node)
        if pair is None or not (_is_loss_name(pair[0].id) or pair[0].id in backwarded):
            continue
        target, value = pair
        if target.id in backwarded and not _backpropagated(node.lineno, backwarded[target.id], assigned[target.id]):
            continue  # an initial value, reassigned from the model's outputs before backward (`loss = loss + l`)
        parts = _formula_parts(sf, value, counters)
        if parts is None:
            continue
        constant_tensor = not parts[1] and target.id in backwarded and isinstance(value, ast.Call)
        if not parts[1] and not constant_tensor:
            continue
        env = env if env is not None else program.flow.env(sf, fn)
        prov = program.flow.concrete(program.flow.eval(value, sf, fn, env))
        if any(o.kind in (Kind.OUTPUT, Kind.DATA) for o in prov):
            continue
        out.append(FakeLoss(target.id, node, ast.unparse(value), tuple(sorted(parts[1]))))
    return out


# Hooks whose returned loss a framework backpropagates: Lightning's `training_step`, Hugging Face's `compute_loss`.
RETURNS_THE_LOSS = frozenset({"training_step", "compute_loss"})


def _returned_names(value: ast.expr | None) -> list[str]:
    """Names a return hands back as the loss: `loss`, `(loss, outputs)`, `a if c else b`, `{"loss": loss}`."""
    if isinstance(value, ast.Name):
        return [value.id]
    if isinstance(value, ast.Tuple) and value.elts:
        return _returned_names(value.elts[0])
    if isinstance(value, ast.IfExp):
        return _returned_names(value.body) + _returned_names(value.orelse)
    if isinstance(value, ast.Dict):
        return [n for k, v in zip(value.keys, value.values, strict=True)
                if isinstance(k, ast.Constant) and k.value == "loss" for n in _returned_names(v)]
    return []


def _backward_lines(nodes: list[ast.AST]) -> dict[str, list[int]]:
    """Lines where each name is backpropagated (`name.backward()`)."""
    out: dict[str, list[int]] = {}
    for n in nodes:
        if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute) and n.func.attr in BACKWARD_ATTRS and \
                isinstance(n.func.value, ast.Name):
            out.setdefault(n.func.value.id, []).append(n.lineno)
    return out


def _assignment_lines(nodes: list[ast.AST]) -> dict[str, list[int]]:
    """Lines where each name is bound by an assignment, augmented or not, or has `requires_grad` set on it."""
    out: dict[str, list[int]] = {}
    for n in nodes:
        targets = n.targets if isinstance(n, ast.Assign) else [n.target] if isinstance(
            n, (ast.AugAssign, ast.AnnAssign)) else []
        for t in targets:
            if isinstance(t, ast.Attribute) and t.attr == "requires_grad":
                t = t.value
            for name in (e for e in ([t] if isinstance(t, ast.Name) else getattr(t, "elts", []))
                         if isinstance(e, ast.Name)):
                out.setdefault(name.id, []).append(n.lineno)
    return out


def _backpropagated(line: int, backward: list[int], assigned: list[int]) -> bool:
    """Whether the value bound at `line` is the one some backward of the name reads: the name's last binding
    before that backward, in line order."""
    return any(max((a for a in assigned if a <= b), default=0) == line for b in backward)  # `l = ...; l.backward()`


@dataclass(frozen=True)
class CutLoss:
    """A backpropagated loss made a new leaf of the graph, so backward reaches no parameter."""

    name: str
    line: int
    how: str


_LEAF_MAKERS = frozenset({"torch.tensor", "torch.as_tensor", "torch.Tensor", "torch.FloatTensor"})
_CUTS = frozenset({"detach", "item", "numpy", "tolist"})


_CUT_WORDS = ("requires_grad", "no_grad", "inference_mode", "set_grad_enabled")


def file_cut_losses(program: Program, sf: SourceFile) -> list[CutLoss]:
    """cut_losses of every scope of a file that spells `backward` and `requires_grad` or a no-grad context."""
    if not (sf.mentions("backward") and sf.mentions(*_CUT_WORDS)):
        return []
    return [c for fn in iter_scopes(program.index, sf) if _spells_a_cut(scope_text(sf, fn))
            for c in cut_losses(sf, fn, program.flow)]


def _spells_a_cut(text: str) -> bool:
    """Whether a scope's text may hold a cut loss: a backward and a marking or no-grad context (an evaluate() with
    only `torch.no_grad()` is not walked: 0.1 s per 1,000 training scripts)."""
    return "backward" in text and any(w in text for w in _CUT_WORDS)


def cut_losses(sf: SourceFile, fn: FunctionInfo | None, flow: Flow | None = None) -> list[CutLoss]:
    """Losses given to backward() as new leaves, the usual "fix" for "element 0 of tensors does not require
    grad": rebuilt from values (`torch.tensor(l.item(), requires_grad=True)`), detached then marked
    (`l.detach().requires_grad_()`), or with `requires_grad = True` set on them (which PyTorch refuses for any
    tensor still in the graph). Only the binding a backward reads counts: `loss = torch.tensor(0.0,
    requires_grad=True)` then `loss = loss + l` is an accumulator."""
    nodes = walk_scope(scope_body(sf, fn))
    backwarded = _backward_lines(nodes)
    if not backwarded:
        return []
    assigned = _assignment_lines(nodes)
    out = []
    for n in nodes:
        if not isinstance(n, ast.Assign) or len(n.targets) != 1:
            continue
        t, value = n.targets[0], n.value
        if isinstance(t, ast.Attribute) and t.attr == "requires_grad" and isinstance(t.value, ast.Name) and \
                isinstance(value, ast.Constant) and value.value is True:
            name, how = t.value.id, f"`{t.value.id}.requires_grad = True`, which PyTorch allows only on a tensor " \
                                    "cut from the graph"
        elif isinstance(t, ast.Name) and isinstance(value, ast.Call):
            name, how = t.id, _leaf_made(sf, value)
        else:
            continue
        if how and name in backwarded and _backpropagated(n.lineno, backwarded[name], assigned[name]):
            out.append(CutLoss(name, n.lineno, how))
    return out + _no_grad_cuts(sf, fn, nodes, backwarded, assigned, flow)


@dataclass(frozen=True)
class EvalDataTraining:
    """A training loop over data named as held out, in a scope that builds a training split and never uses it."""

    file: SourceFile
    line: int  # the loop
    held: str  # what it iterates, as written
    unused: str  # the training split's name
    unused_line: int


# Names of data objects: the training split is one of these with a `train` token (`train_loader`, `trainset`).
_DATA_TOKENS = frozenset({"loader", "dataloader", "set", "dataset", "data", "ds", "iter", "batches"})


def trained_on_eval_data(program: Program) -> list[EvalDataTraining]:
    """Training loops (backward and step) whose iterable is named for validation or test data, with no `train`
    token, in a scope that binds a training split it never reads: the split the author meant to train on."""
    out: list[EvalDataTraining] = []
    for lp in program.training.loops:
        if lp.kind != "loop" or not (lp.backward and lp.steps) or not isinstance(lp.node, (ast.For, ast.AsyncFor)):
            continue
        tokens = _tokens_of([lp.node.iter])
        if not tokens & _EVAL_HEADER or any(t.startswith("train") for t in tokens):
            continue
        if (stepped := [o for o in program.training.optimizers if any(
                program.training.loop_of_step(s) is lp for s in o.steps)]) and all(o.inputs for o in stepped):
            continue  # it optimises inputs over held-out data (an attack, an inversion), not the model
        assert lp.file.tree is not None
        # Read anywhere in the file: a module-level split a function trains on is used
        read = {n.id for n in subtree(lp.file.tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}
        unused = next(((t.id, st.lineno) for st in scope_statements(scope_body(lp.file, lp.scope))
                       if isinstance(st, ast.Assign) and isinstance(st.value, ast.Call) for t in st.targets
                       if isinstance(t, ast.Name) and t.id not in read and _names_training_split(t.id)), None)
        if unused is not None:
            out.append(EvalDataTraining(lp.file, lp.line, ast.unparse(lp.node.iter), *unused))
    return out


def _names_training_split(name: str) -> bool:
    tokens = name_token_tuple(name)
    if len(tokens) == 1:  # trainloader, trainset
        return tokens[0].startswith("train") and tokens[0].endswith(tuple(_DATA_TOKENS))
    return "train" in tokens and bool(set(tokens) & _DATA_TOKENS) and not set(tokens) & _NOT_DATA_TOKENS


_NOT_DATA_TOKENS = frozenset({"path", "dir", "root", "file", "files", "url", "name", "size", "len", "num", "count",
                              "config", "cfg", "args", "kwargs", "transform", "transforms", "sampler"})


@dataclass(frozen=True)
class ClearedStep:
    """An optimizer whose gradients are cleared between backward() and its step(): the step applies none."""

    optimizer: str  # the receiver, as written
    backward: int  # lines of the three calls
    zero: int
    step: int


def file_cleared_steps(program: Program, sf: SourceFile) -> list[ClearedStep]:
    """cleared_steps of every scope of a file that spells `zero_grad` and `backward`."""
    if not (sf.mentions("zero_grad") and sf.mentions("backward")):
        return []
    return [c for fn in iter_scopes(program.index, sf) if "zero_grad" in (text := scope_text(sf, fn))
            and "backward" in text for c in cleared_steps(sf, fn)]


def cleared_steps(sf: SourceFile, fn: FunctionInfo | None) -> list[ClearedStep]:
    """`loss.backward(); opt.zero_grad(); opt.step()` in one block: the step right after the gradients it would
    apply were cleared. A step given a closure recomputes them (LBFGS), so it does not count."""
    stmts = scope_body(sf, fn)
    blocks = [stmts, *(getattr(s, f) for s in scope_statements(stmts) for f in block_fields(s.__class__))]
    out: list[ClearedStep] = []
    for block in blocks:
        backward = None  # line of the last backward() since the last step, in this block
        for stmt, after in zip(block, [*block[1:], None], strict=False):  # an empty block (an empty orelse) too
            call = _method_call(stmt)
            if call is None:
                continue
            attr, receiver = call.func.attr, ast.unparse(call.func.value)  # type: ignore[attr-defined]
            if attr in BACKWARD_ATTRS:
                backward = stmt.lineno
            elif attr == "step":
                backward = None
            elif attr == "zero_grad" and backward is not None and (step := _method_call(after)) is not None and (
                    step.func.attr == "step" and ast.unparse(step.func.value) == receiver  # type: ignore[attr-defined]
                    and not step.args and not step.keywords):
                out.append(ClearedStep(receiver, backward, stmt.lineno, step.lineno))
    return out


def _method_call(stmt: ast.stmt | None) -> ast.Call | None:
    """The call a statement consists of, when it is a method call (`x.f(...)`)."""
    if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Call) and isinstance(stmt.value.func, ast.Attribute):
        return stmt.value
    return None


def _grad_switches(sf: SourceFile, stmts: list[ast.stmt]) -> tuple[dict[int, ast.With | ast.AsyncWith], set[int]]:
    """The nodes of a scope inside a block that turns autograd off (by id, with their block), and the ids of those
    inside a block that turns it back on (`torch.enable_grad()`)."""
    statements = scope_statements(stmts)
    on = {id(n) for w in statements if isinstance(w, (ast.With, ast.AsyncWith)) and any(
        isinstance(i.context_expr, ast.Call) and (_dotted(sf, i.context_expr.func) == "torch.enable_grad" or (
            _dotted(sf, i.context_expr.func) == "torch.set_grad_enabled" and i.context_expr.args
            and isinstance(i.context_expr.args[0], ast.Constant) and i.context_expr.args[0].value is True))
        for i in w.items) for n in walk_scope(w.body)}
    off = {id(n): w for w in no_grad_blocks(sf, statements) for n in walk_scope(w.body) if id(n) not in on}
    return off, on


def _binding_read_by(stmts: list[ast.stmt], name: str, line: int, backwarded: dict[str, list[int]],
                     assigned: dict[str, list[int]]) -> ast.Assign | None:
    """The plain assignment `name = ...` before `line` that a backward of the name reads, if it is one."""
    return next((s for s in scope_statements(stmts) if isinstance(s, ast.Assign) and len(s.targets) == 1
                 and isinstance(s.targets[0], ast.Name) and s.targets[0].id == name and s.lineno <= line
                 and _backpropagated(s.lineno, backwarded.get(name, []), assigned.get(name, []))), None)


def _no_grad_cuts(sf: SourceFile, fn: FunctionInfo | None, nodes: list[ast.AST], backwarded: dict[str, list[int]],
                  assigned: dict[str, list[int]], flow: Flow | None) -> list[CutLoss]:
    """Losses with no graph because autograd was off: backpropagated inside a no-grad block (or a function
    decorated with one), or computed from outputs the model produced in one and then marked with
    `requires_grad_()`, the usual "fix" for the error backward() raises on them."""
    stmts = scope_body(sf, fn)
    off, on = _grad_switches(sf, stmts)
    decorated = next((d for d in (fn.node.decorator_list if fn is not None else ()) if _dotted(
        sf, d.func if isinstance(d, ast.Call) else d) in ("torch.no_grad", "torch.inference_mode")), None)
    # A def inside the scope runs when called, under whatever mode its caller set: LBFGS's step() turns autograd
    # on for its closure.
    nested = {id(x) for d in nodes if isinstance(d, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
              for x in subtree(d) if x is not d}
    out: list[CutLoss] = []
    for n in nodes:
        if not (isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute) and n.func.attr in BACKWARD_ATTRS
                and isinstance(n.func.value, ast.Name)) or id(n) in nested:
            continue
        # Autograd off when the loss was computed, not only when backward() runs: a loss built under
        # `torch.enable_grad()` and backpropagated after the block still has its graph.
        binding = _binding_read_by(stmts, n.func.value.id, n.lineno, backwarded, assigned)
        if binding is None:
            continue
        block = off.get(id(n))
        if block is not None and id(binding) in off:
            where = f"inside `with {ast.unparse(block.items[0].context_expr)}` (line {block.lineno})"
        elif decorated is not None and id(n) not in on and id(binding) not in on:
            where = f"in a function decorated `@{ast.unparse(decorated)}` (line {decorated.lineno})"
        else:
            continue
        out.append(CutLoss(n.func.value.id, n.lineno, f"it is backpropagated {where}, where autograd records no "
                                                      f"graph"))
    if not off or flow is None:
        return out
    quiet = {n.lineno: off[id(n)].lineno for n in nodes if id(n) in off and isinstance(n, ast.Call)}
    env = None
    for n in nodes:
        if not (isinstance(n, ast.Expr) and isinstance(n.value, ast.Call) and isinstance(n.value.func, ast.Attribute)
                and n.value.func.attr == "requires_grad_" and isinstance(n.value.func.value, ast.Name)):
            continue
        binding = _binding_read_by(stmts, n.value.func.value.id, n.lineno, backwarded, assigned)
        name = n.value.func.value.id
        if binding is None or id(binding) in off:
            continue
        env = env if env is not None else flow.env(sf, fn)
        # What the model computed and the loss is made of (a loss module's own output carries no weights of it)
        outputs = sorted((o for o in flow.eval(binding.value, sf, fn, env)
                          if o.kind is Kind.OUTPUT and not is_loss_class(o.what)), key=lambda o: o.line)
        if outputs and all(o.path == sf.path and o.line in quiet for o in outputs):
            first = outputs[0]
            out.append(CutLoss(name, n.lineno, f"it is made of the output of {first.what.rsplit('.', 1)[-1]} (line "
                                               f"{first.line}), computed with autograd off (the no-grad block at line "
                                               f"{quiet[first.line]}), then marked by `{ast.unparse(n.value)}`"))
    return out


def _leaf_made(sf: SourceFile, call: ast.Call) -> str:
    """How a call makes a new leaf of computed values, or '' when it does not."""
    func = call.func
    if _dotted(sf, func) in _LEAF_MAKERS and any(
            k.arg == "requires_grad" and isinstance(k.value, ast.Constant) and k.value.value is True
            for k in call.keywords) and call.args and not is_literal(call.args[0]):
        return f"rebuilt from values by `{ast.unparse(call)}`"
    if isinstance(func, ast.Attribute) and func.attr == "requires_grad_":
        chain = func.value
        while isinstance(chain, (ast.Call, ast.Attribute, ast.Subscript)):
            if isinstance(chain, ast.Call) and isinstance(chain.func, ast.Attribute) and chain.func.attr in _CUTS:
                return f"detached, then marked by `{ast.unparse(call)}`"
            chain = chain.func if isinstance(chain, ast.Call) else chain.value
    return ""


# -- is an optimizer ever stepped ------------------------------------------------------------------------
_HARMLESS = frozenset({"print", "len", "str", "repr", "isinstance", "type", "id", "hasattr", "getattr", "vars"})


def _uses(nodes: list[ast.AST], name: str, attr: bool) -> Iterator[tuple[ast.AST, ast.AST | None]]:
    """(use, parent) for every load of `name` (or of `<x>.name` when attr)."""
    parents: dict[int, ast.AST] = {}
    for n in nodes:
        for c in ast.iter_child_nodes(n):
            parents[id(c)] = n
    for n in nodes:
        hit = (isinstance(n, ast.Attribute) and n.attr == name) if attr else (isinstance(n, ast.Name) and n.id == name)
        if hit and isinstance(n.ctx, ast.Load):  # type: ignore[attr-defined]
            yield n, parents.get(id(n))


def _stepped_in(index: ProjectIndex, scope: Scope, name: str, attr: bool, nodes: list[ast.AST],
                depth: int, seen: set) -> bool | None:
    """True: `name.step()` (or `scaler.step(name)`) happens; False: provably never; None: it escapes us."""
    sf, fn = scope
    result: bool | None = False
    for use, parent in _uses(nodes, name, attr):
        if isinstance(parent, ast.Attribute) and parent.value is use:
            if parent.attr in STEP_ATTRS:
                return True
            continue  # zero_grad(), param_groups, state_dict(): not an escape
        if isinstance(parent, ast.Call) and use in (*parent.args, *(k.value for k in parent.keywords)):
            func = parent.func
            if isinstance(func, ast.Attribute) and func.attr in STEP_ATTRS:
                return True  # scaler.step(optimizer)
            target = index.callee(sf, func, fn) if isinstance(func, (ast.Name, ast.Attribute)) else None
            if isinstance(target, FunctionInfo) and depth < 4 and target.qualname not in seen:
                # A call on self runs the override of the instance's class: each one the dispatch finds is read.
                for callee in index.bound_callees(func, fn) or [target]:
                    if callee.qualname in seen:  # target is not: checked above
                        continue
                    seen.add(callee.qualname)
                    param = _param_for(parent, use, callee)
                    if param is None:
                        return None
                    inner = _stepped_in(index, (callee.file, callee), param, False, list(subtree(callee.node)),
                                        depth + 1, seen)
                    if inner is not False:
                        return inner
                continue
            dotted = target if isinstance(target, str) else ""
            last = dotted.rsplit(".", 1)[-1]
            if dotted in _HARMLESS or "lr_scheduler" in dotted or "scheduler" in last.lower() or (
                    last.startswith("log") or dotted.startswith("logging.")):
                continue
            return None  # handed to something we do not follow (accelerator.prepare, Trainer(...), a wrapper)
        if isinstance(parent, (ast.JoinedStr, ast.FormattedValue, ast.Compare)):
            continue
        result = None  # returned, stored, aliased, put in a container: it may be stepped elsewhere
    return result


def _param_for(call: ast.Call, use: ast.AST, target: FunctionInfo) -> str | None:
    for k in call.keywords:
        if k.value is use:
            return k.arg
    if use in call.args:
        params = target.params
        if params[:1] in (["self"], ["cls"]) and (target.cls is not None):
            params = params[1:]
        pos = call.args.index(use)  # type: ignore[arg-type]
        return params[pos] if pos < len(params) else None
    return None


def optimizer_stepped(program, opt) -> bool | None:
    """Whether an optimizer (TrainingPath.Optimizer) is ever stepped: True, False (provably never), or None
    when it leaves what we can follow (returned, wrapped, handed to a trainer, built in a LightningModule)."""
    if opt.steps:
        return True
    index = program.index
    fn = opt.scope
    if fn is not None and fn.cls is not None and index.is_module(fn.cls):
        return None  # Lightning configure_optimizers and friends: the framework steps it
    if opt.var is None:
        return None
    parent_assign = next((n for n in subtree(fn.node if fn else opt.file.tree)  # type: ignore[arg-type]
                          if isinstance(n, ast.Assign) and n.value is opt.node), None)
    if parent_assign is None:
        return None
    attr = isinstance(parent_assign.targets[0], ast.Attribute)
    if attr:
        nodes = [n for sf in program.production for n in subtree(sf.tree)]
        return _stepped_in(index, (opt.file, fn), opt.var, True, nodes, 0, set())
    nodes = list(subtree(fn.node)) if fn is not None else list(subtree(opt.file.tree))
    return _stepped_in(index, (opt.file, fn), opt.var, False, nodes, 0, set())


# -- does the loop run more than once -----------------------------------------------------------------------
def one_pass_loops(program: Program) -> list[tuple[TrainLoop, ast.Break]]:
    """Training loops whose body ends its first pass with an unconditional `break` (a debugging stop left in):
    each run of the loop backpropagates and steps once. A `break` under a condition (a step budget) is not one."""
    out = []
    for loop in program.training.loops:
        node = loop.node
        if loop.kind == "loop" and isinstance(node, LOOPS) and loop.steps and loop.backward:
            stop = next((s for s in node.body if isinstance(s, ast.Break)), None)
            # A `continue` before it skips it: a retry loop (`try: step; except OOM: continue`, then `break`).
            if stop is not None and not any(isinstance(n, ast.Continue) for n in walk_scope(node.body)):
                out.append((loop, stop))
    return out


# -- does the optimizer hold what the loop runs -------------------------------------------------------------
@dataclass(frozen=True)
class Beside:
    """An optimizer stepped in a training loop that never uses the modules whose parameters it holds, while the
    loop runs other modules: the loss comes from models no step there changes."""

    opt: TrainingOptimizer
    loop: TrainLoop
    held: tuple[str, ...]  # "class at path:line" of each module the optimizer holds, or "factory at path:line"
    runs: tuple[str, ...]  # classes of the modules the loop uses instead
    tensors: bool = False  # the optimizers hold only tensors made in place (`torch.zeros(1, requires_grad=True)`)


def optimizers_beside_the_model(program: Program) -> list[Beside]:
    """Training loops whose stepped optimizers hold only modules the loop never mentions. Silent when what an
    optimizer holds is unknown, or is a submodule made inside a project class (`model.head.parameters()`: the
    loop runs the whole model), and on framework loops, which pick their own parameters."""
    training = program.training
    stepping: dict[int, list[TrainingOptimizer]] = {}  # id of a step call -> the optimizers it steps
    for o in training.optimizers:
        for c in o.steps:
            stepping.setdefault(id(c), []).append(o)
    out: list[Beside] = []
    for loop in training.loops:
        if loop.kind in ("fit", "step-method") or not loop.backward or not loop.steps:
            continue
        opts = list({id(o): o for c in loop.steps for o in stepping.get(id(c), ())}.values())
        held = [_held_modules(program, o) for o in opts]
        tensors = not opts or all(h is None for h in held)
        if tensors:
            held = [_held_tensors(program, o) for o in opts]
        if not opts or any(h is None for h in held):
            continue
        holds = frozenset().union(*held)  # type: ignore[arg-type]
        used = _modules_used(program, loop)
        runs = {o for o in used - holds if not is_loss_class(o.what)}  # a loss module has nothing to train
        if holds and runs and not used & holds and (tensors or all(_used_only_by(program, o) for o in opts)):
            for o in opts:
                named = [(h.what if tensors else h.what.rsplit(".", 1)[-1], h) for h in sorted(holds, key=origin_order)]
                out.append(Beside(o, loop, tuple(f"{what} at {h.path}:{h.line}" for what, h in named),
                                  tuple(sorted({r.what.rsplit(".", 1)[-1] for r in runs})), tensors))
    return out


def _held_modules(program: Program, opt: TrainingOptimizer) -> frozenset[Origin] | None:
    """The module instances whose parameters an optimizer is given, or None when that is not known for each
    (see also _used_only_by, asked only of an optimizer about to be reported: it reads the whole file)."""
    flow, index = program.flow, program.index
    params = _params(opt)
    if params is None:
        return None
    prov = flow.concrete(flow.eval(params, opt.file, opt.scope, flow.env(opt.file, opt.scope)))
    if any(o.kind is Kind.PARAM for o in prov):
        return None
    out = frozenset(o for o in prov if o.kind is Kind.INSTANCE and flow.is_module_class(o.what))
    if not out or any(index.class_at(o.path, o.line) for o in out):
        return None  # made in a project class's body: a submodule of a model the loop may run whole
    return out


def _held_tensors(program: Program, opt: TrainingOptimizer) -> frozenset[Origin] | None:
    """The tensors an optimizer is given when that is all it is given: made in place by a random or constant
    factory (`[torch.zeros(1, requires_grad=True)]`, or names bound to one) and read nowhere in their file but
    where they are bound and handed to optimizers. None otherwise: a tensor the code reads is a weight it uses
    (`x @ w`), or an input it optimises (style transfer; TrainingPath marks those)."""
    params = _params(opt)
    if params is None or opt.inputs or opt.modules:
        return None
    flow, sf = program.flow, opt.file
    prov = flow.concrete(flow.eval(params, sf, opt.scope, flow.env(sf, opt.scope)))
    if not prov or any(o.kind not in (Kind.CONST, Kind.RANDOM) for o in prov):
        return None
    # The names that hold them: those written in the call, and those bound where a tensor is made (`W, b =
    # torch.zeros(...), torch.zeros(...)`), however the call reaches them (`params = [W, b]`).
    lines = {o.line for o in prov}
    names = {n.id for n in subtree(params) if isinstance(n, ast.Name) and n.id not in sf.aliases}  # not `torch`
    optimizers = {id(o.node) for o in program.training.optimizers if o.file is sf}
    names |= {t for a in sf.nodes_of(ast.Assign, ast.AnnAssign) if id(a.value) not in optimizers
              and any(a.lineno <= line <= (a.end_lineno or a.lineno) for line in lines) for t in names_bound(a)}
    # Reads that hand them on without using them: the optimizers' own arguments, and lists of names (`[W, b]`),
    # whose own name then holds them (`head = [W, b]` read as `head[0]` is a use).
    handed = {id(n) for o in program.training.optimizers if o.file is sf for n in subtree(o.node)}
    for a in sf.nodes_of(ast.Assign):
        value = a.value  # type: ignore[attr-defined]
        if isinstance(value, (ast.List, ast.Tuple)) and any(isinstance(e, ast.Name) and e.id in names
                                                            for e in value.elts):
            handed |= {id(e) for e in value.elts if isinstance(e, ast.Name)}
            names |= set(names_bound(a))
    if any(n.id in names and isinstance(n.ctx, ast.Load) and id(n) not in handed for n in sf.nodes_of(ast.Name)):
        return None
    return prov


def _params(opt: TrainingOptimizer) -> ast.expr | None:
    return arg_for(opt.node, "params", 0)


def _used_only_by(program: Program, opt: TrainingOptimizer) -> bool:
    """Whether the modules an optimizer is given (`probe.parameters()`) are named nowhere else in their file
    than where they are bound and handed to optimizers, and hold no other module: then no loop can run them,
    even wrapped (`GaussianDiffusion(unet)`, `nn.Sequential(enc, dec)` run what they were given)."""
    sf, flow, params = opt.file, program.flow, _params(opt)
    if params is None:
        return False
    names = {root_name(c.func.value) for c in subtree(params) if isinstance(c, ast.Call)
             and isinstance(c.func, ast.Attribute) and c.func.attr in ("parameters", "named_parameters")}
    if not names or None in names or "self" in names:
        return False
    handed = {id(n) for o in program.training.optimizers if o.file is sf for n in subtree(o.node)}
    env = flow.env(sf, opt.scope)
    for node in sf.nodes_of(ast.Name, ast.Assign):
        if isinstance(node, ast.Name):
            if node.id in names and isinstance(node.ctx, ast.Load) and id(node) not in handed:
                return False  # run, wrapped, passed on, or read some other way
        elif names & set(_bound_names(node.targets)) and isinstance(node.value, ast.Call) and any(
                o.kind is Kind.INSTANCE and flow.is_module_class(o.what)
                for a in [*node.value.args, *(k.value for k in node.value.keywords)]
                for o in flow.concrete(flow.eval(a, sf, opt.scope, env))):
            return False  # a container or wrapper of modules the loop may run on their own
    return True



def _modules_used(program: Program, loop: TrainLoop) -> frozenset[Origin]:
    """Module instances a loop names: `model`, `self.encoder`, whatever it calls or hands to a helper (a
    function's free names are the file's globals: Flow reads them there)."""
    flow, sf = program.flow, loop.file
    env = flow.env(sf, loop.scope)
    out: set[Origin] = set()
    for node in loop.body():
        if isinstance(node, ast.Name) or isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            out.update(o for o in flow.concrete(flow.eval(node, sf, loop.scope, env))
                       if o.kind is Kind.INSTANCE and flow.is_module_class(o.what))
    return frozenset(out)


# -- a learning rate of zero --------------------------------------------------------------------------------
# Schedulers that set a learning rate of their own; the others (LambdaLR, StepLR, CosineAnnealingLR with its
# default eta_min of 0, LinearLR, warmup wrappers) scale the base rate, and zero times anything is zero.
_ABSOLUTE_SCHEDULERS = frozenset({"OneCycleLR", "CyclicLR"})
_FLOOR_SCHEDULERS = {"CosineAnnealingLR": 2, "CosineAnnealingWarmRestarts": 3}  # lr >= eta_min, at this position


def zero_lr_optimizers(program: Program) -> list[tuple[TrainingOptimizer, float]]:
    """Stepped optimizers built with a literal learning rate of zero (`SGD(params, lr=0.0)`) that nothing gives
    another: each step moves no weight, and a scheduler that scales the base rate (warmup, cosine, step decay)
    keeps it at zero. Silent when a parameter group has its own `lr`, when the project writes a group's `lr` (a
    warmup hook), when the optimizer's state is loaded (a resumed run), when a scheduler sets an absolute rate
    (`OneCycleLR`, `CyclicLR`, a cosine schedule with a non-zero `eta_min`), and when the optimizer is handed to
    a project function (`adjust_learning_rate(optimizer, epoch)`). Every `torch.optim` optimizer takes the
    learning rate as its second argument or as `lr`."""
    if any(_writes_a_rate(sf) for sf in program.production_spelling(frozenset({"param_groups"}))):
        return []
    out: list[tuple[TrainingOptimizer, float]] = []
    for opt in program.training.optimizers:
        if opt.file.is_test or not opt.steps or not opt.cls.startswith("torch.optim.") or opt.var is None:
            continue
        lr = arg_for(opt.node, "lr", 1)
        if not (isinstance(lr, ast.Constant) and type(lr.value) in (int, float) and lr.value == 0):
            continue
        params = arg_for(opt.node, "params", 0)
        if isinstance(params, (ast.List, ast.Tuple)) and any(
                isinstance(g, ast.Dict) and any(isinstance(k, ast.Constant) and k.value == "lr" for k in g.keys)
                for g in params.elts):
            continue  # each group's own rate
        if not any(_sets_a_rate(program, opt, c) for c in opt.file.nodes_of(ast.Call)):
            out.append((opt, lr.value))
    return out


def _writes_a_rate(sf: SourceFile) -> bool:
    """Whether a file writes a learning rate into a parameter group (`group["lr"] = ...`, `group.update(lr=...)`),
    as warmup hooks do; reading one (`opt.param_groups[0]["lr"]` in a log line) does not count."""
    for node in sf.nodes_of(ast.Assign, ast.AugAssign, ast.Call):
        if isinstance(node, ast.Call):  # `group.update(lr=...)`, `group.update({"lr": ...})`, `setdefault("lr", ...)`
            func = node.func
            if isinstance(func, ast.Attribute) and func.attr in ("update", "setdefault", "__setitem__") and (
                    any(k.arg == "lr" for k in node.keywords) or any(
                        isinstance(a, ast.Constant) and a.value == "lr" or isinstance(a, ast.Dict) and any(
                            isinstance(k, ast.Constant) and k.value == "lr" for k in a.keys) for a in node.args)):
                return True
            continue
        targets = node.targets if isinstance(node, ast.Assign) else [node.target]  # type: ignore[attr-defined]
        if any(isinstance(t, ast.Subscript) and isinstance(t.slice, ast.Constant) and t.slice.value == "lr"
               for t in targets):
            return True
    return False


def _sets_a_rate(program: Program, opt: TrainingOptimizer, call: ast.Call) -> bool:
    """Whether a call may give the optimizer another learning rate: loading its state, an absolute scheduler, or
    a project function it is handed to."""
    func, var, sf = call.func, opt.var, opt.file
    if isinstance(func, ast.Attribute) and func.attr == "load_state_dict" and _names_var(func.value, var):
        return True
    if not any(_names_var(a, var) for a in [*call.args, *(k.value for k in call.keywords)]):  # type: ignore
        return False
    last = (sf.resolve(func) or "").rpartition(".")[2] if isinstance(func, (ast.Name, ast.Attribute)) else ""
    if last in _ABSOLUTE_SCHEDULERS:
        return True
    if last in _FLOOR_SCHEDULERS:
        floor = arg_for(call, "eta_min", _FLOOR_SCHEDULERS[last])
        return floor is not None and not (isinstance(floor, ast.Constant) and floor.value == 0)
    target = program.index.resolve(sf, func) if isinstance(func, (ast.Name, ast.Attribute)) else None
    return target is not None and not isinstance(target, str)  # a project function or class


def _names_var(node: ast.AST, var: str) -> bool:
    """Whether an expression is the variable `var` or a `self.var`-like attribute of that name."""
    return isinstance(node, ast.Name) and node.id == var or isinstance(node, ast.Attribute) and node.attr == var
