"""The training path: entry points, training loops, optimizer steps, optimizers and what they optimize."""

from __future__ import annotations

import ast
import re
import unicodedata
from dataclasses import dataclass, field
from functools import cached_property

from trainaudit.evidence.flow import (
    BUILTINS,
    LOSS_SCALERS,
    RANDOM_FACTORIES,
    Flow,
    Kind,
    Origin,
    Prov,
    arg_for,
    callee_module,
    is_loss_class,
    is_model_factory,
    names_bound,
    root_name,
)
from trainaudit.evidence.index import (
    ClassInfo,
    FunctionInfo,
    ProjectIndex,
    iter_scopes,
    scope_body,
    scope_statements,
    scope_text,
    subtree,
    walk_scope,
)
from trainaudit.evidence.not_training import benchmarks, self_tests
from trainaudit.evidence.source import SourceFile

OPTIMIZER_NAMES = frozenset(
    "SGD Adam AdamW Adamax Adagrad Adadelta RMSprop Rprop NAdam RAdam LBFGS SparseAdam ASGD Adafactor Lion "
    "AdamW8bit Adam8bit PagedAdamW LAMB Lamb FusedAdam Muon".split()
)
FIT_METHODS = frozenset({"fit", "train"})
# A file or scope that spells none of these cannot train anything: it is not walked (see TrainingPath).
TRAINING_WORDS = ("backward", "step", "fit(", "train(", "optim", "scaler", "Scaler", "SCALER", *OPTIMIZER_NAMES)
TRAINER_HINTS = ("Trainer", "trainer")


# Losses whose target is a class label: random labels there are never a training objective of their own (a
# regression loss's random target can be, as a diffusion model's noise is).
_CLASS_LOSS_FUNCTIONS = frozenset({"cross_entropy", "nll_loss"})
_CLASS_LOSS_MODULES = frozenset({"CrossEntropyLoss", "NLLLoss"})


@dataclass(eq=False)
class Optimizer:
    """An optimizer construction and the project module classes whose parameters it holds."""

    file: SourceFile
    scope: FunctionInfo | None
    node: ast.Call
    cls: str
    var: str | None
    modules: list[str] = field(default_factory=list)
    steps: list[ast.Call] = field(default_factory=list)  # where `<var>.step()` (or scaler.step(var)) happens
    inputs: bool = False  # it optimises data fed to a network (style transfer), not weights: see _optimises_inputs

    @property
    def line(self) -> int:
        return self.node.lineno


@dataclass(eq=False)
class TrainLoop:
    """A place where training happens: a loop with backward/step, a step function, a framework step or fit."""

    file: SourceFile
    scope: FunctionInfo | None
    node: ast.AST  # the loop, the step function, or the fit call
    kind: str  # "loop" | "step-fn" | "step-method" | "fit"
    backward: list[ast.Call] = field(default_factory=list)
    steps: list[ast.Call] = field(default_factory=list)

    @property
    def line(self) -> int:
        if isinstance(self.node, ast.Module):  # flat script: where training first happens
            return min(c.lineno for c in self.backward + self.steps)
        return getattr(self.node, "lineno", 0)

    def body(self) -> list[ast.AST]:
        """Nodes inside the loop, step function or flat script, not entering nested definitions (the cached walk:
        callers must not change it)."""
        if isinstance(self.node, (ast.For, ast.While, ast.AsyncFor, ast.FunctionDef, ast.AsyncFunctionDef)):
            return walk_scope(self.node.body)
        if isinstance(self.node, ast.Module):
            return walk_scope(scope_body(self.file, None))
        return [self.node]


# Functions that time or count a backward pass (yolov5's `profile`, Lightning's `measure_flops`), not train with it.
_MEASURES = re.compile(r"profil|bench|flop|measure|timing", re.I)
_IN_PLACE = frozenset({"sub_", "add_", "copy_", "mul_", "addcmul_", "addcdiv_", "zero_"})


def _input_gradient_leaves(nodes: list[ast.AST]) -> set[str]:
    """Tensors a scope asks gradients of and reads them from, without ever updating them in place: saliency
    maps and adversarial examples (`x.requires_grad_()`, `score.backward()`, `x.grad`), where backward trains
    nothing. Manual SGD marks its weights the same way but updates them: `w -= lr * w.grad`."""
    marked: set[str] = set()
    read: set[str] = set()
    updated: set[str] = set()
    for n in nodes:
        if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute):
            base = root_name(n.func.value)
            if n.func.attr == "requires_grad_" and base:
                marked.add(base)
            elif n.func.attr in _IN_PLACE and base and not _is_grad(n.func.value):  # `x.grad.zero_()` clears
                updated.add(base)
        elif isinstance(n, ast.Attribute) and _is_grad(n) and (base := root_name(n.value)):
            read.add(base)
        elif isinstance(n, ast.AugAssign) and (base := root_name(n.target)):
            updated.add(base)
        elif isinstance(n, ast.Assign):
            for t in n.targets:
                if isinstance(t, ast.Attribute) and t.attr in ("requires_grad", "data") and (base := root_name(t)):
                    (marked if t.attr == "requires_grad" else updated).add(base)
            value = n.value
            if isinstance(value, ast.Call) and (any(k.arg == "requires_grad" for k in value.keywords) or (
                    isinstance(value.func, ast.Attribute) and value.func.attr == "requires_grad_")):
                marked.update(t.id for t in n.targets if isinstance(t, ast.Name))
    return (marked & read) - updated


def _is_grad(node: ast.AST) -> bool:
    return isinstance(node, ast.Attribute) and node.attr == "grad"


def _backward_trains_nothing(fn: FunctionInfo | None, nodes: list[ast.AST]) -> bool:
    """A backward with no optimizer step beside it that is timed by a profiler or taken for an input's
    gradient: not training either way."""
    return fn is not None and bool(_MEASURES.search(fn.name)) or bool(_input_gradient_leaves(nodes))


class TrainingPath:
    """Finds, once, where the project trains and with what."""

    def __init__(self, files: list[SourceFile], index: ProjectIndex, flow: Flow) -> None:
        self.index = index
        self.flow = flow
        self.loops: list[TrainLoop] = []
        self.optimizers: list[Optimizer] = []
        self._feeds: dict[TrainLoop, list[tuple[ast.Call, Prov]]] = {}  # loops hash by identity (eq=False)
        # A file that spells a training word has a word holding it (`fit(` ends a word): one set operation per
        # file against the project's few such words, a substring search only where a word ends like a call.
        holding = index.words_where(_holds_training_part)
        calling = index.words_where(_ends_like_training_call)
        for sf in files:
            if not sf.parsed or sf.is_test:
                continue
            if sf.words.isdisjoint(holding) and (sf.words.isdisjoint(calling) or not sf.mentions(*_TRAINING_CALLS)):
                continue
            # Names imported as optimizer classes (`from torch.optim import AdamW as Opt`) train too.
            aliases = tuple(k for k, v in sf.aliases.items() if _is_optimizer_class(v))
            for fn in iter_scopes(index, sf):
                self._scan_scope(sf, fn, aliases)
        self._link_steps()
        # A loop that steps only optimizers of inputs (style transfer) trains no model.
        of_inputs = {id(c) for o in self.optimizers if o.inputs for c in o.steps}
        if of_inputs:
            trained = {id(c) for o in self.optimizers if not o.inputs for c in o.steps}
            self.loops = [lp for lp in self.loops if not lp.steps or any(
                id(c) not in of_inputs or id(c) in trained for c in lp.steps)]
        self._drop(benchmarks(self))
        self._drop(self_tests(self))

    def _drop(self, loops: list[TrainLoop]) -> None:
        """Take loops out of the training path, with the optimizers only they step (each would otherwise read as
        built and never stepped)."""
        if not loops:
            return
        gone = {id(lp) for lp in loops}
        steps = {id(c) for lp in loops for c in lp.steps}
        self.loops = [lp for lp in self.loops if id(lp) not in gone]
        self.optimizers = [o for o in self.optimizers if not o.steps or any(id(c) not in steps for c in o.steps)]

    # -- discovery ---------------------------------------------------------------------------
    def _scan_scope(self, sf: SourceFile, fn: FunctionInfo | None, aliases: tuple[str, ...]) -> None:
        backward: list[ast.Call] = []
        steps: list[ast.Call] = []
        # A scope whose text spells no training word holds no backward, step, fit or optimizer call: it is not
        # walked (most functions of a project; 1,000 training scripts: 0.64 s -> 0.42 s).
        nodes = walk_scope(scope_body(sf, fn)) if _mentions(scope_text(sf, fn), aliases) else []
        env = None
        for node in nodes:
            if node.__class__ is not ast.Call:
                continue
            func = node.func  # type: ignore[attr-defined]
            if isinstance(func, ast.Attribute) and func.attr in ("backward", "manual_backward"):
                backward.append(node)  # type: ignore[arg-type]
            elif isinstance(func, ast.Attribute) and func.attr == "step" and _looks_like_optimizer_step(node):
                steps.append(node)  # type: ignore[arg-type]
            elif isinstance(func, ast.Attribute) and func.attr in FIT_METHODS and _looks_like_trainer(func.value):
                self.loops.append(TrainLoop(sf, fn, node, "fit"))
            elif _is_scaler_call(node):  # timm's `loss_scaler(loss, optimizer)` backpropagates and steps
                env = env if env is not None else self.flow.env(sf, fn)
                if any(o.kind is Kind.INSTANCE and o.what in LOSS_SCALERS
                       for o in self.flow.concrete(self.flow.eval(func, sf, fn, env))):
                    backward.append(node)  # type: ignore[arg-type]
                    steps.append(node)  # type: ignore[arg-type]
            # Every optimizer class name is capitalised (see _is_optimizer_class), and a resolved attribute chain
            # ends in its own attribute: `x.step(...)`, `x.to(...)` need no resolving.
            if func.__class__ is ast.Attribute and not func.attr[:1].isupper():
                continue
            dotted = sf.resolve(func) if isinstance(func, (ast.Name, ast.Attribute)) else None
            if dotted and _is_optimizer_class(dotted):
                env = env if env is not None else self.flow.env(sf, fn)
                self.optimizers.append(self._optimizer(sf, fn, node, dotted, env))  # type: ignore[arg-type]
        if fn is not None and fn.cls is not None and fn.name == "training_step" and self.index.is_module(fn.cls):
            self.loops.append(TrainLoop(sf, fn, fn.node, "step-method"))
            return
        # Group backward/step calls by their innermost enclosing loop.
        groups: dict[int, TrainLoop] = {}
        loops = [s for s in scope_statements(scope_body(sf, fn)) if isinstance(s, _LOOPS)] if nodes else []
        for calls, is_backward in ((backward, True), (steps, False)):  # a loss scaler's call is in both
            for call in calls:
                loop = _enclosing_loop(call, loops)
                key = id(loop) if loop is not None else 0
                if key not in groups:
                    node = loop if loop is not None else (fn.node if fn is not None else sf.tree)
                    groups[key] = TrainLoop(sf, fn, node, "loop" if loop is not None else "step-fn")
                (groups[key].backward if is_backward else groups[key].steps).append(call)
        idle: bool | None = None  # decided once per scope, for the first group without a step
        for group in groups.values():
            if not group.steps:
                idle = _backward_trains_nothing(fn, nodes) if idle is None else idle
                if idle:
                    continue
            self.loops.append(group)

    def _optimizer(self, sf: SourceFile, fn: FunctionInfo | None, call: ast.Call, dotted: str,
                   env: dict[str, Prov]) -> Optimizer:
        params = call.args[0] if call.args else next((k.value for k in call.keywords if k.arg == "params"), None)
        modules: list[str] = []
        if params is not None:
            prov = self.flow.concrete(self.flow.eval(params, sf, fn, env))
            modules = sorted({o.what for o in prov if o.kind is Kind.INSTANCE and self._is_model(o.what)})
        # The statement that assigns the optimizer, if it is one (a call's parent can only be an Assign when
        # it is the assigned value).
        parent = next((s for s in scope_statements(scope_body(sf, fn))
                       if isinstance(s, ast.Assign) and s.value is call), None)
        var = None
        if parent is not None and len(parent.targets) == 1:
            t = parent.targets[0]
            var = t.id if isinstance(t, ast.Name) else (t.attr if isinstance(t, ast.Attribute) else None)
        inputs = not modules and params is not None and self._optimises_inputs(sf, fn, params, env)
        return Optimizer(sf, fn, call, dotted, var, modules, inputs=inputs)

    def _optimises_inputs(self, sf: SourceFile, fn: FunctionInfo | None, params: ast.expr,
                          env: dict[str, Prov]) -> bool:
        """Whether an optimizer holds only tensors made from data or noise that its scope feeds to a network:
        style transfer's `LBFGS([image])` with `vgg(image)`, deep dream, an adversarial perturbation, feature
        visualisation from `torch.randn(..., requires_grad=True)`. Weights are made by random or constant init
        (or come from modules) and are used by functions (`F.linear(x, w)`), not fed to a network."""
        names = _names(params)
        if not names or isinstance(params, (ast.List, ast.Tuple)) and len(names) != len(params.elts):
            return False
        flow = self.flow
        prov = flow.concrete(flow.eval(params, sf, fn, env))
        # Tensors read from a weights file (a soft prompt, an adapter) are parameters, whatever they are fed to.
        if not prov or any(o.kind not in (Kind.DATA, Kind.RANDOM) or o.what in _WEIGHT_FILES for o in prov):
            return False
        fed: set[str] = set()
        for node in subtree(fn.node if fn is not None else sf.tree):  # type: ignore[arg-type]
            if isinstance(node, ast.Call) and _calls_a_value(sf, self.index, node.func):
                fed.update(a.id for a in [*node.args, *(k.value for k in node.keywords)] if isinstance(a, ast.Name))
            elif isinstance(node, (ast.For, ast.AsyncFor)) and any(
                    o.kind is Kind.DATA for o in flow.concrete(flow.eval(node.iter, sf, fn, env))):
                return False  # batches of data go by: the tensor is trained on them (prompt tuning), not fitted
        return set(names) <= fed

    def _is_model(self, dotted: str) -> bool:
        cls = self.index.classes.get(dotted)
        return cls is not None and self.index.is_module(cls) or (
            (dotted.startswith("torch.nn.") or is_model_factory(dotted)) and not is_loss_class(dotted))

    def _link_steps(self) -> None:
        """Attach each `x.step()` to the optimizer bound to `x`: in the same function if one is, else in the file."""
        by_var: dict[tuple[int, str], list[Optimizer]] = {}  # (file, variable) -> optimizers, in order
        for o in self.optimizers:
            if o.var is not None:
                by_var.setdefault((id(o.file), o.var), []).append(o)
        for loop in self.loops:
            for call in loop.steps:
                name = step_receiver_name(call)
                named = by_var.get((id(loop.file), name), []) if name is not None else []
                local = [o for o in named if o.scope is loop.scope]
                for opt in local or named:
                    opt.steps.append(call)

    # -- queries -------------------------------------------------------------------------------
    @property
    def entry_files(self) -> list[SourceFile]:
        seen: dict[str, SourceFile] = {}
        for loop in self.loops:
            seen.setdefault(loop.file.path, loop.file)
        return list(seen.values())

    def feeds(self, loop: TrainLoop) -> list[tuple[ast.Call, Prov]]:
        """What reaches the model in a loop: arguments of module calls, and of project helpers given the model.

        Parameters are resolved through call sites; loss modules are skipped (their inputs are outputs).
        Computed once per loop: several rules ask."""
        found = self._feeds.get(loop)
        if found is None:
            found = self._feeds[loop] = self._find_feeds(loop)
        return found

    def _find_feeds(self, loop: TrainLoop) -> list[tuple[ast.Call, Prov]]:
        flow = self.flow
        env = flow.env(loop.file, loop.scope)
        out: list[tuple[ast.Call, Prov]] = []
        for node in loop.body():
            if not isinstance(node, ast.Call):
                continue
            args = [*node.args, *(k.value for k in node.keywords)]
            provs = [flow.concrete(flow.eval(a, loop.file, loop.scope, env)) for a in args]
            cls = callee_module(flow, node, loop.file, loop.scope, env)
            if cls is not None:
                if not is_loss_class(cls):
                    out.append((node, frozenset().union(*provs)))
                continue
            func = node.func
            target = self.index.callee(loop.file, func, loop.scope) if isinstance(func, (ast.Name, ast.Attribute)) \
                else None
            gets_model = any(flow.is_module_class(o.what) for p in provs for o in p if o.kind is Kind.INSTANCE)
            if loop.kind == "fit" or (target is not None and not isinstance(target, str) and gets_model):
                out.append((node, frozenset(o for p in provs for o in p if o.kind is not Kind.INSTANCE)))
        return out

    def class_targets(self, loop: TrainLoop) -> list[tuple[ast.Call, str, ast.Call | None]]:
        """The class labels a loop's classification losses compare the model's output with: each call of
        `F.cross_entropy`/`F.nll_loss` or of a cross-entropy or NLL loss module in the loop, the loss's name, and
        the random draw its target is, if it is one (`labels = torch.randint(...)` before it, or inline). Flow's
        provenance would not tell: a draw sized by the batch (`randint(0, k, (x.size(0),))`) carries the data's."""
        flow, sf, fn = self.flow, loop.file, loop.scope
        env = None
        out: list[tuple[ast.Call, str, ast.Call | None]] = []
        for node in loop.body():
            if not isinstance(node, ast.Call) or not isinstance(node.func, (ast.Name, ast.Attribute)):
                continue
            target = arg_for(node, "target", 1)
            if target is None:
                continue
            env = env if env is not None else flow.env(sf, fn)
            dotted = sf.resolve(node.func) or ""
            if dotted.startswith("torch.nn.functional.") and dotted.rpartition(".")[2] in _CLASS_LOSS_FUNCTIONS:
                name = f"F.{dotted.rpartition('.')[2]}"
            else:
                cls = callee_module(flow, node, sf, fn, env) or ""
                if cls.rsplit(".", 1)[-1] not in _CLASS_LOSS_MODULES:
                    continue
                name = cls.rsplit(".", 1)[-1]
            out.append((node, name, self._drawn(sf, fn, target, node.lineno)))
        return out

    def _drawn(self, sf: SourceFile, fn: FunctionInfo | None, expr: ast.expr, line: int) -> ast.Call | None:
        """The random-generator call an expression is, directly or as the last value bound to its name before
        `line` in the scope."""
        if isinstance(expr, ast.Name):
            # The last statement before the loss that binds the name in any way (`for x, y in loader` after a
            # shape check's `y = torch.randint(...)` rebinds it): only a plain `name = <draw>` is a draw.
            bound = [s for s in scope_statements(scope_body(sf, fn)) if s.lineno < line and expr.id in names_bound(s)]
            last = max(bound, key=lambda s: s.lineno) if bound else None
            if not (isinstance(last, ast.Assign) and len(last.targets) == 1 and isinstance(last.targets[0], ast.Name)):
                return None
            expr = last.value
        if isinstance(expr, ast.Call) and isinstance(expr.func, (ast.Name, ast.Attribute)) and \
                sf.resolve(expr.func) in RANDOM_FACTORIES:
            return expr
        return None

    def differentiated(self, loop: TrainLoop) -> frozenset[Origin]:
        """Random values the loss differentiates the model with respect to: the `inputs` of an
        `autograd.grad(..., create_graph=True)` in the loop, or in a project helper the loop hands them to (one
        call deep). Those are the collocation points of a physics-informed loss, sampled in its domain, whose
        residual supervises the model: the loss takes derivatives of it there, which a stand-in batch never needs."""
        flow = self.flow
        env = flow.env(loop.file, loop.scope)
        out: set[Origin] = set()

        def random_in(expr: ast.expr) -> None:
            out.update(o for o in flow.concrete(flow.eval(expr, loop.file, loop.scope, env)) if o.kind is Kind.RANDOM)

        for node in loop.body():
            if not isinstance(node, ast.Call):
                continue
            inputs = _grad_inputs(loop.file, node)
            if inputs is not None:
                random_in(inputs)
                continue
            func = node.func
            target = self.index.callee(loop.file, func, loop.scope) if isinstance(func, (ast.Name, ast.Attribute)) \
                else None
            if not isinstance(target, FunctionInfo) or not target.file.mentions("grad"):
                continue
            params = target.params[1:] if target.cls is not None else target.params
            for call in walk_scope(target.node.body):
                inputs = _grad_inputs(target.file, call) if isinstance(call, ast.Call) else None
                for name in _names(inputs):
                    arg = arg_for(node, name, params.index(name) if name in params else -1)
                    if arg is not None:
                        random_in(arg)
        return frozenset(out)

    @cached_property
    def domain_points(self) -> frozenset[Origin]:
        """Random values that are points of a physics-informed loss's domain: in a loop whose loss differentiates
        the model at random points (see `differentiated`), every random value it feeds the model (collocation,
        initial and boundary points), wherever else they go. Computed on first use: only a random input asks."""
        out: set[Origin] = set()
        for loop in self.loops:
            if self.differentiated(loop):
                out |= self.differentiated(loop)
                out.update(o for _, p in self.feeds(loop) for o in p if o.kind is Kind.RANDOM)
        return frozenset(out)

    @cached_property
    def latents(self) -> frozenset[Origin]:
        """Random values that are a generator's latent codes: they reach a module call whose output another module
        judges, one that some loop feeds real data (a GAN's discriminator, known by where it was constructed). A
        generator step split from the discriminator's (`g_step(z)`) sees only the codes and what `D(G(z))` gives
        back; the real data reaches its discriminator in the other step. Computed on first use."""
        judged: list[tuple[frozenset[Origin], Prov]] = []  # (the judging module's instances, what it is given)
        fed_data: set[Origin] = set()
        for loop in self.loops:
            env = None
            for node, prov in self.feeds(loop):
                data = any(o.kind is Kind.DATA for o in prov)
                if not data and not any(o.kind is Kind.OUTPUT for o in prov):
                    continue
                env = env if env is not None else self.flow.env(loop.file, loop.scope)
                callee = frozenset(o for o in self.flow.concrete(self.flow.eval(node.func, loop.file, loop.scope, env))
                                   if o.kind is Kind.INSTANCE)
                if data:
                    fed_data |= callee
                else:
                    judged.append((callee, prov))
        return frozenset(o for callee, prov in judged if callee & fed_data for o in prov if o.kind is Kind.RANDOM)

    def loop_of_step(self, call: ast.Call) -> TrainLoop | None:
        return self._loop_of_step.get(id(call))

    @cached_property
    def _loop_of_step(self) -> dict[int, TrainLoop]:
        """id of a step call -> the first loop holding it (one pass, not a scan of every loop per step)."""
        out: dict[int, TrainLoop] = {}
        for loop in self.loops:
            for s in loop.steps:
                out.setdefault(id(s), loop)
        return out

    def fitted(self, loop: TrainLoop) -> set[str]:
        """The module classes a framework's `fit` call is given to train (its `model`, the first argument)."""
        model = arg_for(loop.node, "model", 0) if isinstance(loop.node, ast.Call) else None
        if model is None:
            return set()
        flow = self.flow
        return {o.what for o in flow.concrete(flow.eval(model, loop.file, loop.scope, flow.env(loop.file, loop.scope)))
                if o.kind is Kind.INSTANCE and flow.is_module_class(o.what)}

    def trained_classes(self) -> set[str]:
        """Project module classes whose parameters reach an optimizer, or that a framework step trains."""
        out = {m for opt in self.optimizers for m in opt.modules if m in self.index.classes}
        for loop in self.loops:
            if loop.kind == "step-method" and loop.scope and loop.scope.cls:
                out.add(loop.scope.cls.qualname)
        return out


def _grad_inputs(sf: SourceFile, call: ast.Call) -> ast.expr | None:
    """The `inputs` of `torch.autograd.grad(outputs, inputs, ..., create_graph=True)`, else None."""
    if not any(k.arg == "create_graph" and isinstance(k.value, ast.Constant) and k.value.value is True
               for k in call.keywords):
        return None
    if not isinstance(call.func, (ast.Name, ast.Attribute)) or sf.resolve(call.func) != "torch.autograd.grad":
        return None
    return arg_for(call, "inputs", 1)


def _names(expr: ast.expr | None) -> list[str]:
    """The names a tensor argument gives (autograd.grad's `inputs`, an optimizer's tensors): `x`, or the names
    listed in `[x, t]` / `(x, t)`."""
    if isinstance(expr, ast.Name):
        return [expr.id]
    if isinstance(expr, (ast.List, ast.Tuple)):
        return [e.id for e in expr.elts if isinstance(e, ast.Name)]
    return []


_WEIGHT_FILES = frozenset({"torch.load", "safetensors.torch.load_file"})


def _calls_a_value(sf: SourceFile, index: ProjectIndex, func: ast.expr) -> bool:
    """A call of a callable object the scope holds (`vgg[:22](x)`, `model(x)`), not of an imported function, a
    project definition or a builtin."""
    if isinstance(func, (ast.Subscript, ast.Call)):
        return True
    root = root_name(func)
    if root is None or root in sf.aliases or root in BUILTINS:
        return False
    return not isinstance(index.resolve(sf, func), (ClassInfo, FunctionInfo))


def _is_optimizer_class(dotted: str) -> bool:
    last = dotted.rsplit(".", 1)[-1]
    if "lr_scheduler" in dotted or "scheduler" in last.lower():
        return False
    return (dotted.startswith("torch.optim.") and last[:1].isupper()) or last in OPTIMIZER_NAMES


def _is_scaler_call(call: ast.Call) -> bool:
    """`loss_scaler(loss, optimizer)`, `self.scaler(loss, opt)`: a call of something named a scaler, with the
    loss and the optimizer (not `scaler.step(optimizer)`)."""
    func = call.func
    name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""
    return "scaler" in name.lower() and (len(call.args) > 1 or any(k.arg == "optimizer" for k in call.keywords))


def step_receiver_name(call: ast.Call) -> str | None:
    """The name of the optimizer a step call steps: `opt` for `opt.step()`, `scaler.step(opt)`,
    `loss_scaler(loss, opt)`, `self.opt.step()`."""
    func = call.func
    if _is_scaler_call(call):  # the optimizer is its second argument
        opt = call.args[1] if len(call.args) > 1 else next(k.value for k in call.keywords if k.arg == "optimizer")
        return opt.id if isinstance(opt, ast.Name) else opt.attr if isinstance(opt, ast.Attribute) else None
    assert isinstance(func, ast.Attribute)
    recv = func.value
    if isinstance(recv, ast.Name) and "scaler" in recv.id.lower() and call.args:
        recv = call.args[0]  # scaler.step(optimizer)
    if isinstance(recv, ast.Name):
        return recv.id
    if isinstance(recv, ast.Attribute):
        return recv.attr
    return None


def _looks_like_optimizer_step(call: ast.Call) -> bool:
    name = step_receiver_name(call) or ""
    low = name.lower()
    return ("opt" in low or "scaler" in low or low in ("g_opt", "d_opt")) and "sched" not in low


def _looks_like_trainer(node: ast.AST) -> bool:
    if isinstance(node, ast.Call):
        node = node.func
    name = node.id if isinstance(node, ast.Name) else (node.attr if isinstance(node, ast.Attribute) else "")
    return any(h in name for h in TRAINER_HINTS)


def _holds_training_part(word: str) -> bool:
    return _TRAINING_PART.search(word) is not None


def _ends_like_training_call(word: str) -> bool:
    return word.endswith(_TRAINING_CALL_NAMES)


_TRAINING_PARTS = tuple(w for w in TRAINING_WORDS if w.isidentifier())
_TRAINING_WORD = re.compile("|".join(map(re.escape, TRAINING_WORDS)))
_TRAINING_PART = re.compile("|".join(map(re.escape, _TRAINING_PARTS)))  # one search, not a test per part
_TRAINING_CALLS = tuple(w for w in TRAINING_WORDS if not w.isidentifier())  # `fit(`, `train(`
_TRAINING_CALL_NAMES = tuple(w.rstrip("(") for w in _TRAINING_CALLS)


def _mentions(text: str, aliases: tuple[str, ...]) -> bool:
    """Does the text spell a training word or one of the aliases? Identifiers are read in NFKC form, so non-ASCII
    text is normalised first."""
    if not text.isascii():
        text = unicodedata.normalize("NFKC", text)
    return _TRAINING_WORD.search(text) is not None or any(w in text for w in aliases)


_LOOPS = (ast.For, ast.While, ast.AsyncFor)


def _enclosing_loop(node: ast.AST, loops: list[ast.stmt]) -> ast.stmt | None:
    """The innermost of a scope's loops (in statement order) whose source span holds the node. Spans of a
    tree nest, so this is the nearest loop ancestor, found without a map of parents."""
    start = (node.lineno, node.col_offset)  # type: ignore[attr-defined]
    end = (node.end_lineno, node.end_col_offset)  # type: ignore[attr-defined]
    inner = None
    for lp in loops:  # an outer loop comes before the loops nested in it
        if (lp.lineno, lp.col_offset) <= start and end <= (lp.end_lineno, lp.end_col_offset):
            inner = lp
    return inner
