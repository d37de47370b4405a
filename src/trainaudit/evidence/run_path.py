"""Reachability over the project's own code, on one edge resolver.

`reference` and `RunPath.call_edges` resolve what a name or a call in a scope reaches (an `Edge`). Two views are
built on those edges:

- the run path (`RunPath`, `Program.run_path`): which definitions a training run executes, with the call chain,
  and what drives training. It follows dispatch: a class reaches its constructor and framework hooks.
- the broad view (`referenced`, `reach_down`, `reach_up`, `program_of`): which scopes run together with some
  training code, down through calls and references and up through callers. It over-approximates: a named class
  brings all its methods, because frameworks call hooks such as `validation_step` by name.
"""

from __future__ import annotations

import ast
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from functools import cached_property

from trainaudit.evidence.flow import Flow, Kind
from trainaudit.evidence.index import (
    ClassInfo,
    FunctionInfo,
    ProjectIndex,
    first_line,
    iter_scopes,
    scope_body,
    subtree,
)
from trainaudit.evidence.source import NODE_FIELDS, SourceFile
from trainaudit.evidence.training import TrainingPath

# Methods a framework or the interpreter calls on an object once it exists: instantiating a class reaches them.
IMPLICIT_METHODS = ("__init__", "forward", "__call__", "__getitem__", "__len__", "__iter__", "__next__",
                    "training_step", "configure_optimizers", "train_dataloader", "setup", "prepare_data")


@dataclass(frozen=True)
class Hop:
    """How a definition was reached: `name` used at path:line from the scope `via` (None for a root)."""

    name: str  # function/method or class qualname, or a module-level scope key (a file path)
    path: str
    line: int
    via: str | None


@dataclass(frozen=True)
class Edge:
    """A use of a project definition in a scope: a call, an instantiation, or a `self.<name>()` dispatch."""

    kind: str  # "call" | "new" | "virtual"
    target: FunctionInfo | ClassInfo
    line: int
    name: str = ""  # the method name of a virtual call


Scope = tuple[SourceFile, FunctionInfo | None]  # a file's module level (None) or one of its functions


def scope_key(sf: SourceFile, fn: FunctionInfo | None) -> str:
    """Run-path keys: functions by qualname, a file's module level by its path."""
    return fn.qualname if fn is not None else sf.path


def scope_id(scope: Scope) -> tuple[str, str]:
    """Broad-view keys: (path, qualname), with "" for a file's module level."""
    sf, fn = scope
    return sf.path, fn.qualname if fn is not None else ""


def scope_nodes(sf: SourceFile, fn: FunctionInfo | None) -> list[ast.AST]:
    """Every node of a scope, closures included (they run as part of it); the module level skips defs. A
    function's list is the cached `subtree` of its node: callers must not change it."""
    if fn is not None:
        return subtree(fn.node)
    return [node for stmt in scope_body(sf, fn) for node in subtree(stmt)]


# Nodes that hold no call (names, constants, operators, contexts, import aliases): `calls_in` does not queue them.
_NO_CALLS = frozenset({ast.Name, ast.Constant, ast.alias, *(
    c for c in vars(ast).values()
    if isinstance(c, type) and issubclass(c, (ast.expr_context, ast.operator, ast.unaryop, ast.cmpop, ast.boolop)))})


def calls_in(stmts: list[ast.stmt], lines: list[int] | None = None) -> list[ast.Call]:
    """The calls of the statements' subtrees, in `subtree` order (each statement breadth first), without
    visiting the many nodes that cannot hold a call (most of a tree). Given `lines` (ascending), a statement
    that holds none of them, at any depth, is left out with its calls (the others keep their order)."""
    out: list[ast.Call] = []
    fields, leaves, node_type, stmt_type = NODE_FIELDS, _NO_CALLS, ast.AST, ast.stmt
    for stmt in _spelling(stmts, lines):
        todo: list[ast.AST] = [stmt]
        append = todo.append
        for node in todo:
            cls = node.__class__
            if cls is ast.Call:
                out.append(node)  # type: ignore[arg-type]
            for name in fields.get(cls, node._fields):
                v = getattr(node, name, None)
                if v.__class__ is list:
                    if lines is not None and v and isinstance(v[0], stmt_type):
                        v = _spelling(v, lines)  # a block
                    for x in v:
                        if x.__class__ not in leaves and isinstance(x, node_type):
                            append(x)
                elif v.__class__ not in leaves and isinstance(v, node_type):
                    append(v)
    return out


def _spelling(stmts: list[ast.stmt], lines: list[int] | None) -> list[ast.stmt]:
    """The statements (ascending, disjoint, as in a block) whose lines, decorators included, hold one of
    `lines` (ascending; None: all of them)."""
    if lines is None:
        return stmts
    out: list[ast.stmt] = []
    i, n = 0, len(lines)
    for stmt in stmts:
        first = first_line(stmt)
        while i < n and lines[i] < first:
            i += 1
        if i == n:
            break
        if lines[i] <= (stmt.end_lineno or stmt.lineno):
            out.append(stmt)
    return out


# -- edges -------------------------------------------------------------------------------------------
def reference(index: ProjectIndex, sf: SourceFile, fn: FunctionInfo | None, node: ast.Name | ast.Attribute,
              line: int | None = None) -> Edge | None:
    """The project definition a name or attribute in a scope refers to, as an edge at `line` (default: the
    node's): `self.<name>` in a method is a dispatch on its class ("virtual"), a class is "new", a function
    "call". With fn None, `self.<name>` is not dispatched (it resolves like any other name).

    A name that no definition is spelled like is not resolved: it resolves to a definition only through its last
    part (see ProjectIndex.def_spellings), and a dispatch on it finds no method, as every method is a function."""
    if (node.attr if isinstance(node, ast.Attribute) else node.id) not in index.def_spellings:
        return None
    if (fn is not None and fn.cls is not None and isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name) and node.value.id == "self"):
        return Edge("virtual", fn.cls, node.lineno if line is None else line, node.attr)
    target = index.resolve(sf, node)
    if isinstance(target, ClassInfo):
        return Edge("new", target, node.lineno if line is None else line)
    if isinstance(target, FunctionInfo):
        return Edge("call", target, node.lineno if line is None else line)
    return None


class RunPath:
    """Forward reach from the training entry points and backward reach to the training loops, computed once.

    Unlike the broad view below (which over-approximates: a named class brings all its methods), this follows
    dispatch: a class reaches its constructor and framework hooks, and `self.m()` runs the override of each
    instantiated subclass, so a base-class stub every used subclass overrides is not on the path.
    """

    def __init__(self, files: list[SourceFile], index: ProjectIndex, flow: Flow, training: TrainingPath,
                 entry_files: list[SourceFile], roots: list[ClassInfo | FunctionInfo]) -> None:
        self.files = [f for f in files if f.parsed and not f.is_test]
        self.index = index
        self.flow = flow
        self.training = training
        self.entry_files = [f for f in entry_files if f.parsed and not f.is_test]
        self.extra_roots = roots  # definitions the spec names: on the path whether or not a call reaches them
        self._edges: dict[str, list[Edge]] = {}
        self._callers_found: dict[str, set[str]] = {}  # qualname -> scopes that may run it, over walked files
        self._walked: set[int] = set()
        self._spelled_done: set[str] = set()
        self._mro: dict[str, list[ClassInfo]] = {}
        self._lines: dict[int, list[int] | None] = {}  # id(file) -> its _spelled_lines

    # -- edges ---------------------------------------------------------------------------------
    def edges(self, sf: SourceFile, fn: FunctionInfo | None) -> list[Edge]:
        """Project definitions a scope uses; closures count for the function that defines them."""
        key = scope_key(sf, fn)
        if key not in self._edges:
            # Every edge is found through a name spelled like a definition (`reference`, the super() and flow
            # cases ask for a method name, which is one too), inside the call's statement: a statement none of
            # whose lines spells one has no edge and is not walked (most of a file, imports aside).
            stmts = fn.node.body if fn is not None else scope_body(sf, None)
            self._edges[key] = [e for call in calls_in(stmts, self._spelled_lines(sf))
                                for e in self.call_edges(sf, fn, call)]
        return self._edges[key]

    def _spelled_lines(self, sf: SourceFile) -> list[int] | None:
        """The lines of a file where a word of `ProjectIndex.def_spellings` occurs, ascending (a substring
        search: a superset of where such a name is used). None for a non-ASCII file, whose identifiers Python
        reads in NFKC form: any line may spell one."""
        if id(sf) not in self._lines:
            self._lines[id(sf)] = sf.lines_spelling(sf.words & self.index.def_spellings) if sf.text.isascii() else None
        return self._lines[id(sf)]

    def call_edges(self, sf: SourceFile, fn: FunctionInfo | None, call: ast.Call) -> list[Edge]:
        """What one call may run: the callee, an instantiated class, a dispatched method, or callables passed on."""
        func, line = call.func, call.lineno
        if isinstance(func, ast.Attribute) and fn is not None and fn.cls is not None:
            inner = func.value.func if isinstance(func.value, ast.Call) else None
            if isinstance(inner, ast.Name) and inner.id == "super":
                base = next((b for b in self.mro(fn.cls)[1:] if func.attr in b.methods), None)
                return ([Edge("call", base.methods[func.attr], line)] if base else []) + self._passed(sf, call)
        edge = reference(self.index, sf, fn, func, line) if isinstance(func, (ast.Name, ast.Attribute)) else None
        out: list[Edge] = [edge] if edge is not None else []
        if (edge is None and isinstance(func, ast.Attribute) and func.attr in self.index.method_names
                and self._is_local_value(sf, fn, func.value)):
            # A method of an object the flow knows: `model.encode(x)`, `trainer.train()`. Only a name some project
            # class defines can find a method: the others are not evaluated (building a scope's flow is costly).
            env = self.flow.env(sf, fn)
            for o in self.flow.concrete(self.flow.eval(func.value, sf, fn, env)):
                cls = self.index.classes.get(o.what) if o.kind is Kind.INSTANCE else None
                m = self.index.method(cls, func.attr) if cls is not None else None
                if m is not None:
                    out.append(Edge("call", m, line))
        return out + self._passed(sf, call)

    def _is_local_value(self, sf: SourceFile, fn: FunctionInfo | None, expr: ast.AST) -> bool:
        """Whether an expression starts from a variable of the scope (not an imported module or a builtin)."""
        while isinstance(expr, (ast.Attribute, ast.Subscript, ast.Call)):
            expr = expr.func if isinstance(expr, ast.Call) else expr.value
        if not isinstance(expr, ast.Name) or expr.id in sf.aliases:
            return False
        return expr.id in self.flow.env(sf, fn)

    def _passed(self, sf: SourceFile, call: ast.Call) -> list[Edge]:
        """Project functions and classes handed to a call (`collate_fn=collate`, `LightningCLI(Model)`) run later."""
        args = (*call.args, *(k.value for k in call.keywords))
        # No scope: a `self.<method>` handed on is not followed (the run path only dispatches calls).
        found = (reference(self.index, sf, None, a) for a in args if isinstance(a, (ast.Name, ast.Attribute)))
        return [e for e in found if e is not None]

    def _runs(self, e: Edge) -> list[FunctionInfo]:
        """Functions an edge may run, over-approximated (every override) for the backward direction."""
        if isinstance(e.target, FunctionInfo):
            return [e.target]
        if e.kind == "new":
            return [m for n in IMPLICIT_METHODS if (m := self.index.method(e.target, n)) is not None]
        found = [self.index.method(c, e.name) for c in (e.target, *self._subclasses.get(e.target.qualname, ()))]
        return list({id(m): m for m in found if m is not None}.values())

    def mro(self, cls: ClassInfo) -> list[ClassInfo]:
        """ProjectIndex.mro, memoised: dispatch asks for the same hierarchies many times."""
        if cls.qualname not in self._mro:
            self._mro[cls.qualname] = self.index.mro(cls)
        return self._mro[cls.qualname]

    @cached_property
    def _subclasses(self) -> dict[str, list[ClassInfo]]:
        out: dict[str, list[ClassInfo]] = {}
        for c in self.index.classes.values():
            for base in self.mro(c)[1:]:
                out.setdefault(base.qualname, []).append(c)
        return out

    def targets(self, sf: SourceFile, fn: FunctionInfo | None, call: ast.Call) -> list[FunctionInfo]:
        """Project functions one call may run directly."""
        return [m for e in self.call_edges(sf, fn, call) for m in self._runs(e)]

    # -- backward: what drives training ------------------------------------------------------------
    def _callers(self, key: str) -> set[str]:
        """Scopes with an edge that runs the function `key` (a qualname; a file path has no callers).

        Every such edge names the function (a call, a reference, `self.<name>()`, `super().<name>()`), or, for a
        constructor or framework hook, a class that inherits it; a file that spells none of these names has no
        such edge, so only the files that do are walked (the whole project took 1.7x the parse on a
        1,000-file tree)."""
        index = self.index
        name = key.rpartition(".")[2]
        spelled = index.spellings(name)
        fn = index.functions.get(key)
        if fn is not None and fn.cls is not None and fn.name in IMPLICIT_METHODS:
            for c in (fn.cls, *self._subclasses.get(fn.cls.qualname, ())):
                spelled |= index.spellings(c.name)
        for word in spelled - self._spelled_done:  # each file is walked once, however many keys spell alike
            self._spelled_done.add(word)
            for sf in index.files_spelling({word}):
                if id(sf) in self._file_ids and id(sf) not in self._walked:
                    self._walked.add(id(sf))
                    for scope in iter_scopes(index, sf):
                        here = scope_key(sf, scope)
                        for e in self.edges(sf, scope):
                            for m in self._runs(e):
                                self._callers_found.setdefault(m.qualname, set()).add(here)
        return self._callers_found.get(key, set())

    @cached_property
    def _file_ids(self) -> set[int]:
        return {id(f) for f in self.files}

    @cached_property
    def _drivers(self) -> frozenset[str]:
        seen = {scope_key(loop.file, loop.scope) for loop in self.training.loops if not loop.file.is_test}
        todo = deque(seen)
        while todo:
            for caller in self._callers(todo.popleft()):
                if caller not in seen:
                    seen.add(caller)
                    todo.append(caller)
        return frozenset(seen)

    @cached_property
    def drivers(self) -> frozenset[str]:
        """Qualnames of functions that run a training loop, directly or through the functions they call."""
        return frozenset(k for k in self._drivers if k in self.index.functions)

    @cached_property
    def driver_files(self) -> frozenset[str]:
        """Paths of files whose module-level code runs training."""
        return frozenset(k for k in self._drivers if k not in self.index.functions)

    # -- forward: what a training run executes -------------------------------------------------------
    @cached_property
    def reached(self) -> dict[str, Hop]:
        """Project functions and classes a training run uses, each with the hop that first reached it.

        Roots: the module level of entry files and of files that drive training, the functions that hold or
        drive a training loop, and the definitions the spec names. Keys are qualnames (and root file paths).
        """
        reached: dict[str, Hop] = {}
        todo: deque[tuple[SourceFile, FunctionInfo | None]] = deque()
        instantiated: list[ClassInfo] = []
        virtual: dict[tuple[str, str], tuple[ClassInfo, Hop]] = {}
        # The same relations indexed by class, so that matching them is not quadratic (~1M mro calls, 4,000 files):
        inst_of: dict[int, list[ClassInfo]] = {}  # id(class) -> instantiated classes whose mro holds it
        virtual_at: dict[int, list[tuple[int, str, Hop]]] = {}  # id(class) -> (order, name, hop) of its calls

        def add_fn(fn: FunctionInfo, hop: Hop) -> None:
            if fn.qualname not in reached and not fn.file.is_test:
                reached[fn.qualname] = replace(hop, name=fn.qualname)
                todo.append((fn.file, fn))

        def add_cls(cls: ClassInfo, hop: Hop) -> None:
            if cls.qualname in reached or cls.file.is_test:
                return
            reached[cls.qualname] = hop
            instantiated.append(cls)
            mro = self.mro(cls)
            for base in mro:
                inst_of.setdefault(id(base), []).append(cls)
            for name in IMPLICIT_METHODS:
                if (m := self.index.method(cls, name)) is not None:
                    add_fn(m, Hop(m.qualname, cls.file.path, cls.node.lineno, cls.qualname))
            for _, name, h in sorted(e for base in mro for e in virtual_at.get(id(base), ())):  # in call order
                if (m := self.index.method(cls, name)) is not None:
                    add_fn(m, h)

        def add_virtual(cls: ClassInfo, name: str, hop: Hop) -> None:
            if (cls.qualname, name) in virtual:
                return
            virtual_at.setdefault(id(cls), []).append((len(virtual), name, hop))
            virtual[(cls.qualname, name)] = (cls, hop)
            for inst in list(inst_of.get(id(cls), ())):
                if (m := self.index.method(inst, name)) is not None:
                    add_fn(m, hop)

        roots = {f.path: f for f in self.entry_files}
        roots.update({f.path: f for f in self.files if f.path in self.driver_files})
        for sf in roots.values():
            reached.setdefault(sf.path, Hop(sf.path, sf.path, 1, None))
            todo.append((sf, None))
        for loop in self.training.loops:
            if loop.scope is not None and loop.kind == "step-method" and loop.scope.cls is not None:
                add_cls(loop.scope.cls, Hop(loop.scope.cls.qualname, loop.file.path, loop.line, None))
        for q in sorted(self.drivers):
            fn = self.index.functions[q]
            add_fn(fn, Hop(q, fn.file.path, fn.node.lineno, None))
        for d in self.extra_roots:
            hop = Hop(d.qualname, d.file.path, d.node.lineno, None)
            if isinstance(d, ClassInfo):
                add_cls(d, hop)
            else:
                add_fn(d, hop)
        while todo:
            while todo:
                sf, fn = todo.popleft()
                here = scope_key(sf, fn)
                for e in self.edges(sf, fn):
                    hop = Hop(e.target.qualname, sf.path, e.line, here)
                    if e.kind == "new":
                        add_cls(e.target, hop)  # type: ignore[arg-type]
                    elif e.kind == "virtual":
                        add_virtual(e.target, e.name, hop)  # type: ignore[arg-type]
                    else:
                        add_fn(e.target, hop)  # type: ignore[arg-type]
            # `self.m()` where no instantiated class is in the hierarchy: the class's own method runs, unless a
            # subclass overrides it (then the object is probably built where we cannot see, e.g. a registry).
            for (_, name), (cls, hop) in list(virtual.items()):
                if inst_of.get(id(cls)):
                    continue
                if any(name in sub.methods for sub in self._subclasses.get(cls.qualname, ())):
                    continue
                if (m := self.index.method(cls, name)) is not None:
                    add_fn(m, hop)
        return reached

    def chain(self, key: str, limit: int = 8) -> list[Hop]:
        """The hops from a root to `key`, root first (the last `limit` of them)."""
        out: list[Hop] = []
        seen: set[str] = set()
        cur: str | None = key
        while cur is not None and cur in self.reached and cur not in seen and len(out) < limit:
            seen.add(cur)
            hop = self.reached[cur]
            out.append(hop)
            cur = hop.via
        return list(reversed(out))


# -- the broad view: scopes that run together with some training code ------------------------------------
MAX_DEPTH = 8  # call chains deeper than this are not followed (keeps large projects fast)


def _brings(index: ProjectIndex, e: Edge) -> list[FunctionInfo]:
    """The functions an edge counts as running in the broad view: the function, the methods `self.<name>` can
    run (the scope's class's own and each subclass's override), or every method of a named class and its bases."""
    if isinstance(e.target, FunctionInfo):
        return [e.target]
    if e.kind == "virtual":
        return index.dispatch(e.target, e.name)
    return [m for c in index.mro(e.target) for m in c.methods.values()]


def referenced(index: ProjectIndex, sf: SourceFile, fn: FunctionInfo | None,
               nodes: Iterable[ast.AST]) -> list[FunctionInfo]:
    """Project functions that `nodes` call or pass along, and every method of project classes they name.

    A referenced function counts as run (`compute_metrics=compute_metrics`, `fire.Fire(train)`), and a named
    class brings all its methods, because frameworks call hooks such as `validation_step` by name.
    """
    out: dict[str, FunctionInfo] = {}
    spelled = index.def_spellings
    for node in nodes:
        cls = node.__class__  # the parser makes exact Name/Attribute nodes
        name = node.id if cls is ast.Name else node.attr if cls is ast.Attribute else None  # type: ignore[attr-defined]
        # A name no definition is spelled like references none (see `reference`): most nodes stop here.
        if name in spelled and isinstance(node.ctx, ast.Load):  # type: ignore[attr-defined]
            e = reference(index, sf, fn, node)  # type: ignore[arg-type]
            if e is not None:
                for m in _brings(index, e):
                    out.setdefault(m.qualname, m)
    return list(out.values())


def callers(index: ProjectIndex, fn: FunctionInfo) -> list[Scope]:
    """Scopes that call a function; for a method, the scopes that instantiate its class."""
    sites = list(index.call_sites.get(fn.qualname, []))
    if fn.cls is not None:
        for c in index.descendants(fn.cls):
            sites += index.call_sites.get(c.qualname, [])
    return [(s.file, s.caller) for s in sites]


def _closure(roots: Iterable[Scope], step: Callable[[Scope], Iterable[Scope]]) -> dict[tuple[str, str], Scope]:
    """The roots and every scope `step` leads to, at most MAX_DEPTH steps away."""
    seen: dict[tuple[str, str], Scope] = {}
    todo = [(r, 0) for r in roots]
    while todo:
        scope, depth = todo.pop()
        key = scope_id(scope)
        if key in seen:
            continue
        seen[key] = scope
        if depth < MAX_DEPTH:
            todo.extend((s, depth + 1) for s in step(scope))
    return seen


def reach_down(index: ProjectIndex, roots: Iterable[Scope]) -> dict[tuple[str, str], Scope]:
    """The roots and every project function they reach through calls and references."""
    return _closure(roots, lambda s: [(c.file, c) for c in referenced(index, s[0], s[1], scope_nodes(*s))])


def reach_up(index: ProjectIndex, roots: Iterable[Scope]) -> dict[tuple[str, str], Scope]:
    """The roots and every scope that (transitively) calls them."""
    return _closure(roots, lambda s: callers(index, s[1]) if s[1] is not None else [])


def program_of(index: ProjectIndex, sf: SourceFile, anchors: Iterable[FunctionInfo | None]) -> list[Scope]:
    """The code that runs together with some scopes of a file: its module level, the anchors, their callers,
    and everything those reach."""
    up = reach_up(index, program_roots(index, sf, anchors))
    return list(reach_down(index, up.values()).values())


def program_roots(index: ProjectIndex, sf: SourceFile, anchors: Iterable[FunctionInfo | None]) -> list[Scope]:
    """Where `program_of` starts: the file's module level, then the anchors. A method anchor brings every method
    of its class hierarchy (framework hooks run by name)."""
    roots: list[Scope] = [(sf, None)]
    for fn in anchors:
        if fn is None:
            continue
        roots.append((fn.file, fn))
        if fn.cls is not None:
            roots += [(m.file, m) for c in index.mro(fn.cls) for m in c.methods.values()]
    return roots
