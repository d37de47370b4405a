"""The run path: which project definitions a training run executes (with the call chain), and what drives training."""

from __future__ import annotations

import ast
from collections import deque
from dataclasses import dataclass, replace
from functools import cached_property

from trainaudit.evidence.flow import Flow, Kind
from trainaudit.evidence.index import ClassInfo, FunctionInfo, ProjectIndex, iter_scopes, scope_body, subtree
from trainaudit.evidence.source import SourceFile
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


def scope_key(sf: SourceFile, fn: FunctionInfo | None) -> str:
    """Functions are keyed by qualname, a file's module level by its path."""
    return fn.qualname if fn is not None else sf.path


class RunPath:
    """Forward reach from the training entry points and backward reach to the training loops, computed once.

    Unlike evidence.reach (which over-approximates: a named class brings all its methods), this follows
    dispatch: a class reaches its constructor and framework hooks, and `self.m()` runs the override of each
    instantiated subclass, so a base-class stub every used subclass overrides is not on the path.
    """

    def __init__(self, files: list[SourceFile], index: ProjectIndex, flow: Flow, training: TrainingPath,
                 entry_files: list[SourceFile], roots: list[ClassInfo | FunctionInfo]) -> None:
        self.files = [f for f in files if f.tree is not None and not f.is_test]
        self.index = index
        self.flow = flow
        self.training = training
        self.entry_files = [f for f in entry_files if f.tree is not None and not f.is_test]
        self.extra_roots = roots  # definitions the spec names: on the path whether or not a call reaches them
        self._edges: dict[str, list[Edge]] = {}
        self._callers_found: dict[str, set[str]] = {}  # qualname -> scopes that may run it, over walked files
        self._walked: set[int] = set()
        self._spelled_done: set[str] = set()
        self._mro: dict[str, list[ClassInfo]] = {}

    # -- edges ---------------------------------------------------------------------------------
    def edges(self, sf: SourceFile, fn: FunctionInfo | None) -> list[Edge]:
        """Project definitions a scope uses; closures count for the function that defines them."""
        key = scope_key(sf, fn)
        if key not in self._edges:
            stmts = fn.node.body if fn is not None else scope_body(sf, None)
            self._edges[key] = [e for stmt in stmts for node in subtree(stmt) if isinstance(node, ast.Call)
                                for e in self.call_edges(sf, fn, node)]
        return self._edges[key]

    def call_edges(self, sf: SourceFile, fn: FunctionInfo | None, call: ast.Call) -> list[Edge]:
        """What one call may run: the callee, an instantiated class, a dispatched method, or callables passed on."""
        func, line = call.func, call.lineno
        if isinstance(func, ast.Attribute) and fn is not None and fn.cls is not None:
            if isinstance(func.value, ast.Name) and func.value.id == "self":
                return [Edge("virtual", fn.cls, line, func.attr), *self._passed(sf, call)]
            inner = func.value.func if isinstance(func.value, ast.Call) else None
            if isinstance(inner, ast.Name) and inner.id == "super":
                base = next((b for b in self.mro(fn.cls)[1:] if func.attr in b.methods), None)
                return ([Edge("call", base.methods[func.attr], line)] if base else []) + self._passed(sf, call)
        out: list[Edge] = []
        target = self.index.resolve(sf, func) if isinstance(func, (ast.Name, ast.Attribute)) else None
        if isinstance(target, ClassInfo):
            out.append(Edge("new", target, line))
        elif isinstance(target, FunctionInfo):
            out.append(Edge("call", target, line))
        elif isinstance(func, ast.Attribute) and self._is_local_value(sf, fn, func.value):
            # A method of an object the flow knows: `model.encode(x)`, `trainer.train()`.
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
        out: list[Edge] = []
        for arg in (*call.args, *(k.value for k in call.keywords)):
            if isinstance(arg, (ast.Name, ast.Attribute)):
                target = self.index.resolve(sf, arg)
                if isinstance(target, FunctionInfo):
                    out.append(Edge("call", target, arg.lineno))
                elif isinstance(target, ClassInfo):
                    out.append(Edge("new", target, arg.lineno))
        return out

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
