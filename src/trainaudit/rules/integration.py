"""Rules about integration: do the components of a composed system really feed and train each other."""

from __future__ import annotations

import ast
import re
from collections import Counter
from collections.abc import Callable, Iterator

from trainaudit.evidence.flow import (
    LATENT_NAME,
    VALUE_KINDS,
    Flow,
    Kind,
    Origin,
    Prov,
    callee_module,
    is_loss_class,
    names_in,
    origin_order,
    root_name,
    self_attrs_written,
)
from trainaudit.evidence.index import (
    OWN_SCOPES,
    ClassInfo,
    FunctionInfo,
    ProjectIndex,
    scope_body,
    scope_statements,
    statements_in_scope,
    walk_scope,
)
from trainaudit.evidence.source import NODE_FIELDS, SourceFile, block_fields, file_fact, walk
from trainaudit.finding import Severity
from trainaudit.rules.registry import Rule, check, register

DUMMY_INPUT = register(
    Rule("TA103", "dummy-input", "integration", Severity.ERROR,
         "A component is fed a random or constant tensor in place of an upstream component's output.",
         remedy="Wire each component to its upstream component's real output instead of random or constant tensors.")
)
ISOLATED_TRAINING = register(
    Rule("TA203", "isolated-training", "integration", Severity.ERROR,
         "Components are optimized separately while the combined system is never trained end to end.",
         remedy="Train the combined system end to end (one forward through all components, one combined loss).")
)
DISCARDED_OUTPUT = register(
    Rule("TA204", "discarded-output", "integration", Severity.WARNING,
         "A component's output is computed in the forward or training step and never used.",
         remedy="Use every component output the system computes, or remove the component from the forward pass.")
)


# Callee or slot names where a random input is the point: GAN generators, decoders of prior samples, noise.
_GENERATIVE = re.compile(r"gen|decod|sampl|diffus|unet|denois|prior|noise|latent", re.I)
# A recurrent or cached state starts from zeros (`model(x, (h0, c0))`, `forward(self, x, state)`): a constant there
# is the usual initial state, of a project RNN as of nn.LSTM. Not `hidden_states` (a transformer layer's input) nor
# `memory` (a decoder's encoder output): zeros there stand in for an upstream output.
_INITIAL_STATE = re.compile(r"(?<![a-z])(?:init_|initial_)?(?:hidden|state)(?:_state)?(?![a-z_])|"
                            r"(?<![a-z])[hc][0x](?![a-z0-9])|(?<![a-z])past|cache", re.I)
# Negative samples are drawn at random by design (BPR, word2vec, contrastive negatives): `model(user, pos, neg)`.
_NEGATIVES = re.compile(r"(?<![a-z])negs?(?![a-z])|negative", re.I)
# Methods where a dummy forward is routine (shape inference, tracing, sampling), not training.
_NOT_TRAINING = re.compile(r"^__init__$|sampl|generat|warm|trace|export|summary|example|infer|build|shape", re.I)
_FORWARD = re.compile(r"^(forward|__call__|\w*_step|step|compute_loss|train\w*)$")
_DEFS = (ast.FunctionDef, ast.AsyncFunctionDef)


# Words every random or constant tensor factory contains; files without any cannot feed a dummy input.
_FACTORY_WORDS = ("rand", "zeros", "ones", "full", "empty", "normal", "uniform", "eye", "tensor", "Tensor", "array")
# Inputs that describe the data rather than carry it: an all-ones attention mask, zero position ids, the shapes
# of feature maps. A constant there is routine, and no upstream component ever computes them.
# (`pos` alone is also a positive sample, `model(user, pos, neg)`: only its position spellings count.)
_AUXILIARY = re.compile(r"mask|position|(?<![a-z])pos_?(?:ids?|emb|embed|embedding|enc|encoding)(?![a-z])|index|"
                        r"indices|(?<![a-z])idx|shape|length|"
                        r"(?<![a-z])lens?(?![a-z])|size|offset|segment|token_type|bucket|padding", re.I)


def _spells_factory(word: str) -> bool:
    """A word holding a tensor factory's name: a file that spells none builds no dummy input."""
    return any(w in word for w in _FACTORY_WORDS)


_REAL = frozenset({Kind.DATA, Kind.OUTPUT, Kind.PARAM})  # what a real input is made of
_JOINS = frozenset({"torch.cat", "torch.concat", "torch.concatenate", "torch.stack", "torch.hstack",
                    "torch.vstack", "torch.dstack"})


def _slots(call: ast.Call, sf) -> list[tuple[str, ast.expr, int | str]]:
    """Each input a call passes: arguments, entries of literal dicts/lists, and parts joined by torch.cat; with
    the argument it sits in, by position or keyword (what `_slot_param` binds to a parameter)."""
    named: list[tuple[str, ast.expr, int | str]] = [(f"argument {i + 1}", a, i) for i, a in enumerate(call.args)]
    named += [(k.arg, k.value, k.arg) for k in call.keywords if k.arg]
    out: list[tuple[str, ast.expr, int | str]] = []
    for label, expr, arg in named:
        if (isinstance(expr, ast.Call) and expr.args and isinstance(expr.args[0], (ast.List, ast.Tuple))
                and sf.resolve(expr.func) in _JOINS):
            out += [(f"{label} part {j + 1}", e, arg) for j, e in enumerate(expr.args[0].elts)]
        elif isinstance(expr, ast.Dict):
            pairs = zip(expr.keys, expr.values, strict=True)
            out += [(f"{label} key {ast.unparse(k)}", v, arg) for k, v in pairs if k is not None]
        elif isinstance(expr, (ast.List, ast.Tuple)):
            out += [(f"{label} item {j + 1}", e, arg) for j, e in enumerate(expr.elts)]
        else:
            out.append((label, expr, arg))
    return out


def _forward_methods(program, spells: Callable[[str], bool] | None = None):
    """Forward-like methods of the project's modules (in files with a word that passes `spells`, if given)."""
    index = program.index
    spelled = index.words_where(spells) if spells is not None else None
    for cls in index.classes.values():
        if cls.file.is_test or not index.is_module(cls) or spelled is not None and cls.file.words.isdisjoint(spelled):
            continue
        for m in cls.methods.values():
            if _is_forward(m.name):
                yield m


def _train_loops(program):
    for loop in program.training.loops:
        if loop.kind != "fit" and not (loop.scope and _NOT_TRAINING.search(loop.scope.name)):
            yield loop


def _callee_label(call: ast.Call) -> str:
    func = call.func
    return func.attr if isinstance(func, ast.Attribute) else (func.id if isinstance(func, ast.Name) else "")


# --- dummy-input -------------------------------------------------------------------------------------
def _dummy_scopes(program):
    """Scopes to search, with the nodes that may be calls of a component."""
    loops, synthetic = [], set()
    for loop in _train_loops(program):
        feeds = program.training.feeds(loop)
        kinds = {o.kind for _, p in feeds for o in p}
        if Kind.RANDOM in kinds and not kinds & {Kind.DATA, Kind.OUTPUT}:
            # A loop fed random values and no real input is synthetic-data's finding, not this one: also when it
            # is a forward-like method (Lightning's `training_step` ignoring its batch).
            synthetic.add(id(loop.scope))
        else:
            loops.append((loop, feeds))
    for m in _forward_methods(program, _spells_factory):
        if id(m) not in synthetic:
            yield m.file, m, walk_scope(m.node.body), False
    for loop, feeds in loops:
        # Every call of the loop that runs a module (loss modules aside) is among its feeds. A step function's
        # parameters hold what its callers pass (`step(model, x, torch.randn(...))`).
        yield loop.file, loop.scope, [call for call, _ in feeds], True


@check("dummy-input")
def _dummy_input(ctx):
    program = ctx.source
    flow, index = program.flow, program.index
    for sf, fn, body, callers in _dummy_scopes(program):
        env = flow.env(sf, fn)
        resolve = flow.passed if callers else _as_given
        for node in body:
            if not isinstance(node, ast.Call):
                continue
            cls = callee_module(flow, node, sf, fn, env)
            if cls is None or is_loss_class(cls) or _GENERATIVE.search(_callee_label(node) + cls):
                continue
            project_component = cls in index.classes
            params: list[str] | None = None  # the parameters of what the call runs, read once it matters
            forward: bool | None = None  # whether it runs the component's forward, not a helper method of it
            slots = [(label, expr, arg, {o for o in resolve(flow.eval(expr, sf, fn, env)) if o.kind in VALUE_KINDS})
                     for label, expr, arg in _slots(node, sf)]
            # Random values that also went into a real input of the same call: the timestep or noise level that
            # corrupted the data (`model(q_sample(x0, t, noise), t)`), a condition of that input, not a stand-in.
            shaping = {o for *_, prov in slots if any(o.kind in _REAL for o in prov)
                       for o in prov if o.kind is Kind.RANDOM}
            for label, expr, arg, prov in slots:
                if not prov or any(o.kind not in (Kind.RANDOM, Kind.CONST) for o in prov):
                    continue
                randoms = sorted((o for o in prov if o.kind is Kind.RANDOM), key=origin_order)
                if randoms and (shaping.issuperset(randoms) or program.training.domain_points.issuperset(randoms)):
                    continue  # the condition of a real input, or points of a physics-informed loss's domain
                if not randoms and not project_component:
                    continue  # zeros for an RNN state or a mask fed to a library layer is routine
                if not randoms:
                    if forward is None:
                        forward = callee_module(flow, node, sf, fn, env, forward_only=True) is not None
                    if not forward:
                        continue  # a constant passed to a helper method (`self._prepare_mask(x, ones)`)
                root = root_name(expr) or ""
                if _GENERATIVE.search(label) or LATENT_NAME.fullmatch(root):
                    continue
                if params is None:
                    params = _forward_params(index, node, cls)
                param = _slot_param(arg, params)
                if not randoms and _adds_its_own_bias(index, node, cls, param):
                    continue
                if randoms and LATENT_NAME.fullmatch(param):
                    continue  # the module names what it takes a latent: `def forward(self, z)`, given torch.randn
                names = f"{label} {param} {root}"
                if _AUXILIARY.search(names) or (_NEGATIVES if randoms else _INITIAL_STATE).search(names):
                    continue
                first = (randoms or sorted(prov, key=origin_order))[0]
                kind = "random" if randoms else "constant"
                name = cls.rsplit(".", 1)[-1]
                yield DUMMY_INPUT.finding(
                    f"{name} (called at {sf.path}:{node.lineno}) is fed a {kind} tensor from {first.what} "
                    f"as its {label}, in place of a real input",
                    first.path, first.line,
                    evidence={"component": cls, "call": f"{sf.path}:{node.lineno}", "input": label,
                              "source": f"{first.what} at {first.path}:{first.line}"},
                )


def _as_given(p: Prov) -> Prov:
    return p


def _adds_its_own_bias(index: ProjectIndex, call: ast.Call, cls: str, param: str) -> bool:
    """Whether what the call runs returns `param` plus something made of the component's own attributes alone
    (`return x + self._bias`). Fed a constant, such a component yields its learned bias, broadcast to the
    constant's shape: ikostrikov's a2c-ppo-acktr feeds zeros to `AddBias` for a state-independent log-std."""
    m = _method_run(index, call, cls) if param else None
    if m is None:
        return False
    values: dict[str, list[ast.expr]] = {}
    returns: list[ast.expr | None] = []
    for stmt in scope_statements(m.node.body):
        if isinstance(stmt, ast.Return):
            returns.append(stmt.value)
        elif isinstance(stmt, ast.Assign):
            for t in stmt.targets:
                for n in walk(t):
                    if isinstance(n, ast.Name):
                        values.setdefault(n.id, []).append(stmt.value)
        elif isinstance(stmt, (ast.AugAssign, ast.AnnAssign, ast.For, ast.AsyncFor, ast.With, ast.AsyncWith)):
            return False  # other bindings: not the plain shape this screens for
    own = {"self"}  # names bound only to values made of the instance's attributes
    grew = True
    while grew:
        grew = False
        for var, assigned in values.items():
            if var not in own and var != param and all(set(names_in([v])) <= own for v in assigned):
                own.add(var)
                grew = True

    def adds_own(v: ast.expr | None) -> bool:
        return isinstance(v, ast.BinOp) and isinstance(v.op, ast.Add) and any(
            isinstance(a, ast.Name) and a.id == param and param not in values and set(names_in([b])) <= own
            for a, b in ((v.left, v.right), (v.right, v.left)))

    return bool(returns) and all(adds_own(v) for v in returns)


def _forward_params(index: ProjectIndex, call: ast.Call, cls: str) -> list[str]:
    """The parameters, `self` left out, of what a call of a project module runs (see _method_run); empty for a
    library class."""
    m = _method_run(index, call, cls)
    return m.params[1:] if m is not None else []


def _method_run(index: ProjectIndex, call: ast.Call, cls: str) -> FunctionInfo | None:
    """What a call of a project module runs: `forward`, or the method called (`self.encoder.encode(x)`)."""
    ci = index.classes.get(cls)
    if ci is None:
        return None
    name = call.func.attr if isinstance(call.func, ast.Attribute) else "forward"
    return index.method(ci, name) or index.method(ci, "forward")


def _slot_param(arg: int | str, params: list[str]) -> str:
    """The parameter an argument binds to: its keyword, or the parameter at its position ('' past the end)."""
    if isinstance(arg, str):
        return arg
    return params[arg] if arg < len(params) else ""


# --- discarded-output --------------------------------------------------------------------------------
_BLOCK_LEVEL = (ast.stmt, ast.excepthandler, ast.match_case)


class _Reads:
    """Which names a scope reads (the Name loads walk_scope would see), from the scope's statements (as
    scope_statements lists them), without walking the scope up front: an assigned name is mostly read within the
    next few statements, so a search from there stops early. A search that finds nothing has seen every read."""

    def __init__(self, stmts: list[ast.stmt]) -> None:
        self.stmts = stmts
        self._all: set[str] | None = None
        self._position: dict[int, int] | None = None

    def has(self, name: str, after: ast.stmt) -> bool:
        """Whether the scope reads `name`, searched from the statement after `after` round to it."""
        if self._all is not None:
            return name in self._all
        if self._position is None:
            self._position = {id(s): i for i, s in enumerate(self.stmts)}
        seen: set[str] = set()
        start = self._position[id(after)] + 1
        for stmt in self.stmts[start:] + self.stmts[:start]:
            # A statement's own parts: its nested statements come later in the list.
            todo: list[ast.AST] = [stmt]
            while todo:
                node = todo.pop()
                if node.__class__ is ast.Name:
                    if node.ctx.__class__ is ast.Load:  # type: ignore[attr-defined]
                        if node.id == name:  # type: ignore[attr-defined]
                            return True
                        seen.add(node.id)  # type: ignore[attr-defined]
                    continue
                blocks = block_fields(node.__class__) if isinstance(node, _BLOCK_LEVEL) else ()
                for field in NODE_FIELDS.get(node.__class__, node._fields):
                    v = getattr(node, field, None)
                    if field in blocks:  # a handler or a case belongs to its statement
                        todo += [x for x in v if not isinstance(x, ast.stmt)]
                    elif v.__class__ is list:
                        todo += [x for x in v if isinstance(x, ast.AST) and not isinstance(x, OWN_SCOPES)]
                    elif isinstance(v, ast.AST) and not isinstance(v, OWN_SCOPES):
                        todo.append(v)
        self._all = seen
        return False


def _dropped_calls(stmts: list[ast.stmt], reads: _Reads) -> Iterator[tuple[ast.stmt, ast.Call, str]]:
    """The statements that drop a call's result, the call, and how: an expression statement, or an assignment
    to public names the scope never reads."""
    for node in stmts:
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Call):
            names = [t.id for t in node.targets if isinstance(t, ast.Name)]
            if len(names) != len(node.targets) or any(n.startswith("_") for n in names):
                continue
            if any(reads.has(n, node) for n in names):
                continue
            yield node, node.value, f"assigned to {', '.join(names)} and never used"
        elif isinstance(node, ast.Expr) and isinstance(node.value, ast.Call):
            yield node, node.value, "computed and dropped"


def _is_forward(name: str) -> bool:
    return _FORWARD.match(name) is not None and not _NOT_TRAINING.search(name)


@file_fact("forwards-dropping")
def _forwards_dropping(sf: SourceFile, tree: ast.Module) -> frozenset[tuple[int, ...]]:
    """Which forward-like methods of the file's classes drop a call's result, by position (as FunctionInfo.path):
    discarded-output reads every model's forward, and so only those files' trees."""
    out: set[tuple[int, ...]] = set()
    for i, cls in enumerate(tree.body):
        if isinstance(cls, ast.ClassDef):
            for j, m in enumerate(cls.body):
                if isinstance(m, _DEFS) and _is_forward(m.name):
                    stmts = statements_in_scope(m.body)
                    if next(_dropped_calls(stmts, _Reads(stmts)), None) is not None:
                        out.add((i, j))
    return frozenset(out)


@check("discarded-output")
def _discarded_output(ctx):
    program = ctx.source
    flow = program.flow
    # Only a statement can drop an output, so each scope is read as its statements: the candidates, and the
    # statements whose reads decide whether an assigned name is used (the function's, or the module's top level:
    # a script reads a batch loop's output after it, in the epoch loop).
    scopes = []
    for m in _forward_methods(program):
        if m.path in m.file.fact("forwards-dropping"):  # type: ignore[operator]
            stmts = scope_statements(m.node.body)
            scopes.append((m.file, m, stmts, stmts))
    for loop in _train_loops(program):
        stmts = [n for n in loop.body() if isinstance(n, ast.stmt)]
        scope = scope_statements(scope_body(loop.file, loop.scope))
        scopes.append((loop.file, loop.scope, stmts, scope))
    seen: set[int] = set()
    for sf, fn, stmts, scope in scopes:
        env = None  # only for a scope with a dropped call (most use every result): 0.14 s -> 0.04 s, 1,000 files
        for node, call, what in _dropped_calls([s for s in stmts if id(s) not in seen], _Reads(scope)):
            env = env if env is not None else flow.env(sf, fn)
            cls = callee_module(flow, call, sf, fn, env, forward_only=True)
            if cls is None or is_loss_class(cls):
                continue
            seen.add(id(node))
            name = cls.rsplit(".", 1)[-1]
            yield DISCARDED_OUTPUT.finding(
                f"the output of {name} ({_callee_label(call)}) is {what}",
                sf.path, node.lineno, evidence={"component": cls, "scope": fn.qualname if fn else sf.module},
            )


# --- isolated-training -------------------------------------------------------------------------------
# Stands for "whatever this call's arguments carry": a call that hands it back passes its arguments through.
_ARGS_PROBE = frozenset({Origin(Kind.PARAM, "<arguments>")})
_BOUND_BY = frozenset({ast.AugAssign, ast.AnnAssign, ast.For, ast.AsyncFor})  # binding statements with one target
_WITH = frozenset({ast.With, ast.AsyncWith})


# What one method's `self.<attr> = value` statements assign, for _HeldClasses: None when some value depends on the
# method's names or on another value (a call on one); else each constructor or function call's name as
# `SourceFile.resolve` gives it, whether it is a bare word no import binds (ProjectIndex.resolve_dotted), and its line.
_Assigned = tuple[tuple[str, bool, int], ...] | None


@file_fact("self-assigned")
def _self_assigned(sf: SourceFile, tree: ast.Module) -> dict[tuple[int, ...], _Assigned]:
    """For each method of the file's classes that assigns anything but constants to `self` attributes, by
    position (as FunctionInfo.path), what it assigns (see _Assigned): isolated-training asks it of every module
    class of the project, and so reads no tree."""
    out: dict[tuple[int, ...], _Assigned] = {}
    for i, cls in enumerate(tree.body):
        if isinstance(cls, ast.ClassDef):
            for j, m in enumerate(cls.body):
                if isinstance(m, _DEFS):
                    got = _assigned_by(sf, m)
                    if got != ():
                        out[(i, j)] = got
    return out


def _assigned_by(sf: SourceFile, m: ast.FunctionDef | ast.AsyncFunctionDef) -> _Assigned:
    values: list[ast.expr] = []  # what `self.<attr> = value` statements assign (as Flow._self_assigns)
    bound: set[str] = set()  # with the parameters, a superset of the names Flow.env binds
    for node in statements_in_scope(m.body):
        kind = node.__class__
        if kind is ast.Assign:
            targets = node.targets  # type: ignore[attr-defined]
        elif kind in _BOUND_BY:
            targets = [node.target]  # type: ignore[attr-defined]
        elif kind in _WITH:
            targets = [i.optional_vars for i in node.items if i.optional_vars is not None]  # type: ignore
        else:
            continue
        for t in targets:
            if t.__class__ is ast.Name:
                bound.add(t.id)
                continue
            if self_attrs_written(t) and (kind is ast.Assign or kind is ast.AnnAssign and node.value is not None):
                values.append(node.value)  # type: ignore[attr-defined]
            bound.update(n.id for n in walk(t) if isinstance(n, ast.Name))
    values = [v for v in values if not isinstance(v, ast.Constant)]
    if not values:
        return ()
    if ":=" in sf.text:
        return None  # a walrus binds names in expressions, which the statements above do not show
    a = m.args
    bound.update(p.arg for p in (*a.posonlyargs, *a.args, *a.kwonlyargs))  # as FunctionInfo.params
    calls: list[tuple[str, bool, int]] = []
    for value in values:
        if isinstance(value, ast.Name):
            # Flow reads `self` as the instance even where it is no parameter; an unbound name has no provenance
            if value.id in bound or value.id == "self":
                return None
            continue
        root = value.func if isinstance(value, ast.Call) else None
        while isinstance(root, ast.Attribute):
            root = root.value
        if not isinstance(root, ast.Name) or root.id in bound or root.id == "self":
            return None  # a call on a value: Flow evaluates the value
        assert isinstance(value, ast.Call)
        dotted = sf.resolve(value.func)
        assert dotted is not None
        calls.append((dotted, isinstance(value.func, ast.Name) and value.func.id not in sf.aliases, value.lineno))
    return tuple(calls)


class _HeldClasses:
    """Which project classes a class can hold in its `self.<attr>` slots, judged from the assigned values alone.

    Flow.submodules evaluates every such value in its method's full environment; most values are constructor
    calls of library layers (`nn.Linear(...)`) whose result does not depend on that environment. For those
    this says which project classes they yield without building it, and None for any value that depends on
    names, parameters or project functions (the caller then asks Flow.submodules)."""

    def __init__(self, flow: Flow, index: ProjectIndex) -> None:
        self.flow, self.index = flow, index
        self._by_method: dict[int, set[str] | None] = {}
        self._by_callee: dict[str, set[str] | None] = {}

    def of(self, cls: ClassInfo) -> set[str] | None:
        # Flow.submodules reads the self-assignments of the class and its project bases (each base's own
        # bases are among them), through Flow.self_attr: those are all the values it can see.
        out: set[str] = set()
        for c in self.index.mro(cls):
            for m in c.methods.values():
                got = self._method(m)
                if got is None:
                    return None
                out |= got
        return out

    def _method(self, m: FunctionInfo) -> set[str] | None:
        key = id(m)
        if key not in self._by_method:
            assigned: _Assigned = m.file.fact("self-assigned").get(m.path, ())  # type: ignore[attr-defined]
            self._by_method[key] = None if assigned is None else self._calls(m.file, assigned)
        return self._by_method[key]

    def _calls(self, sf: SourceFile, calls: tuple[tuple[str, bool, int], ...]) -> set[str] | None:
        """Project classes the calls evaluate to in Flow's environment of their method (see _Assigned)."""
        out: set[str] = set()
        for dotted, bare, line in calls:
            # A name whose last part spells no project definition resolves outside the project (def_spellings).
            spelled = dotted.rpartition(".")[2] in self.index.def_spellings
            target = self.index.resolve_dotted(sf, dotted, bare) if spelled else dotted
            if isinstance(target, ClassInfo):
                out.add(target.qualname)  # Flow._instantiate: the instance, and a dataset's items (never instances)
                continue
            if not isinstance(target, str):
                return None  # a project function: what it returns
            if target not in self._by_callee:  # given the probe for arguments, the answer depends on the callee alone
                got = self.flow.external(target, _ARGS_PROBE, _ARGS_PROBE, (sf.path, line))
                self._by_callee[target] = None if any(o.kind is Kind.PARAM for o in got) else {  # passes args on
                    o.what for o in got if o.kind is Kind.INSTANCE and o.what in self.index.classes}
            held = self._by_callee[target]
            if held is None:
                return None
            out |= held
        return out


@check("isolated-training")
def _isolated_training(ctx):
    program = ctx.source
    index, flow, training = program.index, program.flow, program.training
    single = [o for o in training.optimizers
              if o.steps and len([m for m in o.modules if m in index.classes]) == 1]
    loops = {id(o): {id(lp) for s in o.steps if (lp := training.loop_of_step(s))} for o in single}
    sharing = Counter(lp for o in single for lp in loops[id(o)])
    isolated = [o for o in single if all(sharing[lp] == 1 for lp in loops[id(o)])]
    components = {m for o in isolated for m in o.modules if m in index.classes}
    if len(components) < 2:
        return
    trained = training.trained_classes()
    held_classes = _HeldClasses(flow, index)
    for cls in index.classes.values():
        if cls.file.is_test or not index.is_module(cls) or cls.qualname in trained:
            continue
        # What Flow.submodules finds is among can_hold (when known): fewer than two components there, none here.
        can_hold = held_classes.of(cls)
        if can_hold is not None and len(can_hold & components) < 2:
            continue
        held = {m for mods in flow.submodules(cls).values() for m in mods} & components
        if len(held) < 2:
            continue
        for opt in isolated:
            comp = next(m for m in opt.modules if m in index.classes)
            if comp not in held:
                continue
            parts = ", ".join(sorted(h.rsplit(".", 1)[-1] for h in held))
            yield ISOLATED_TRAINING.finding(
                f"this optimizer trains {comp.rsplit('.', 1)[-1]} alone in its own loop, while {cls.name} "
                f"({cls.file.path}:{cls.node.lineno}), which composes {parts}, is never trained end to end",
                opt.file.path, opt.line,
                evidence={"component": comp, "composite": cls.qualname,
                          "optimizers": [f"{o.file.path}:{o.line} {o.modules}" for o in isolated]},
            )
        return
