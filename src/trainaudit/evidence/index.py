"""The project index: classes, functions and call sites of the project's own code, resolved across modules."""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from functools import cached_property

from trainaudit.evidence.source import SourceFile

# Base classes that make a class a trainable module.
MODULE_BASES = frozenset(
    {
        "torch.nn.Module", "torch.nn.modules.module.Module", "pytorch_lightning.LightningModule",
        "lightning.LightningModule", "lightning.pytorch.LightningModule", "pl.LightningModule",
        "transformers.PreTrainedModel", "torch_geometric.nn.MessagePassing",
    }
)
DATASET_BASES = frozenset(
    {
        "torch.utils.data.Dataset", "torch.utils.data.IterableDataset", "torch.utils.data.dataset.Dataset",
        "pytorch_lightning.LightningDataModule", "lightning.LightningDataModule",
        "lightning.pytorch.LightningDataModule", "torch_geometric.data.Dataset",
        "torch_geometric.data.InMemoryDataset",
    }
)


@dataclass(eq=False)
class FunctionInfo:
    qualname: str
    node: ast.FunctionDef | ast.AsyncFunctionDef
    file: SourceFile
    cls: ClassInfo | None = None

    @property
    def name(self) -> str:
        return self.node.name

    @property
    def params(self) -> list[str]:
        a = self.node.args
        return [p.arg for p in (*a.posonlyargs, *a.args, *a.kwonlyargs)]


@dataclass(eq=False)
class ClassInfo:
    qualname: str
    node: ast.ClassDef
    file: SourceFile
    bases: list[str] = field(default_factory=list)  # dotted, as resolved in the defining file
    methods: dict[str, FunctionInfo] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.node.name

    @property
    def docstring(self) -> str:
        return ast.get_docstring(self.node) or ""


@dataclass(frozen=True)
class CallSite:
    """A call of a project function from somewhere in the project."""

    caller: FunctionInfo | None  # None: module level
    file: SourceFile
    node: ast.Call


class ProjectIndex:
    """Every definition of the project's own code, found once, looked up by dotted name."""

    def __init__(self, files: list[SourceFile]) -> None:
        self.files = [f for f in files if f.tree is not None]
        self.by_module: dict[str, SourceFile] = {f.module: f for f in self.files}
        self.classes: dict[str, ClassInfo] = {}
        self.functions: dict[str, FunctionInfo] = {}
        self.module_functions: dict[str, list[FunctionInfo]] = {}
        for sf in self.files:
            self._index_file(sf)
        self._owners: dict[str, dict[int, FunctionInfo]] = {}
        self.classes_by_name: dict[str, list[ClassInfo]] = {}
        for c in self.classes.values():
            self.classes_by_name.setdefault(c.name, []).append(c)

    def _index_file(self, sf: SourceFile) -> None:
        assert sf.tree is not None
        fns: list[FunctionInfo] = []
        for node in sf.tree.body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                fi = FunctionInfo(f"{sf.module}.{node.name}", node, sf)
                self.functions[fi.qualname] = fi
                fns.append(fi)
            elif isinstance(node, ast.ClassDef):
                ci = ClassInfo(f"{sf.module}.{node.name}", node, sf)
                ci.bases = [b for b in (sf.resolve(x) for x in node.bases) if b]
                for item in node.body:
                    if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)):
                        fi = FunctionInfo(f"{ci.qualname}.{item.name}", item, sf, ci)
                        ci.methods[item.name] = fi
                        self.functions[fi.qualname] = fi
                        fns.append(fi)
                self.classes[ci.qualname] = ci
        self.module_functions[sf.module] = fns

    # -- lookup -------------------------------------------------------------------------
    def lookup(self, dotted: str, origin: SourceFile | None = None, _depth: int = 0) -> ClassInfo | FunctionInfo | None:
        """Find a project definition by dotted name, following re-exports and script-relative imports."""
        if _depth > 8:
            return None
        candidates = [dotted]
        if origin is not None:
            candidates.append(f"{origin.module}.{dotted}")  # a name defined in the same module (e.g. a base class)
            pkg = origin.module.rpartition(".")[0]
            while pkg:
                candidates.append(f"{pkg}.{dotted}")
                pkg = pkg.rpartition(".")[0]
        for cand in candidates:
            hit = self.classes.get(cand) or self.functions.get(cand)
            if hit:
                return hit
            mod, _, name = cand.rpartition(".")
            sf = self.by_module.get(mod)
            if sf is not None and name in sf.aliases and sf.aliases[name] != cand:
                found = self.lookup(sf.aliases[name], sf, _depth + 1)
                if found:
                    return found
        return None

    def resolve(self, sf: SourceFile, expr: ast.AST) -> ClassInfo | FunctionInfo | str | None:
        """What a name used in `sf` refers to: a project definition, or the dotted external name."""
        dotted = sf.resolve(expr)
        if dotted is None:
            return None
        if isinstance(expr, ast.Name) and expr.id not in sf.aliases:
            local = self.classes.get(f"{sf.module}.{dotted}") or self.functions.get(f"{sf.module}.{dotted}")
            if local:
                return local
        return self.lookup(dotted, sf) or dotted

    def class_named(self, name: str) -> list[ClassInfo]:
        """Classes by simple or dotted name (a spec may give either)."""
        if name in self.classes:
            return [self.classes[name]]
        return list(self.classes_by_name.get(name.replace(":", ".").rsplit(".", 1)[-1], []))

    # -- class hierarchy ------------------------------------------------------------------
    def mro(self, cls: ClassInfo) -> list[ClassInfo]:
        seen: list[ClassInfo] = []
        todo = [cls]
        while todo:
            c = todo.pop(0)
            if c in seen:
                continue
            seen.append(c)
            for b in c.bases:
                hit = self.lookup(b, c.file)
                if isinstance(hit, ClassInfo):
                    todo.append(hit)
        return seen

    def external_bases(self, cls: ClassInfo) -> set[str]:
        out: set[str] = set()
        for c in self.mro(cls):
            out.update(b for b in c.bases if not isinstance(self.lookup(b, c.file), ClassInfo))
        return out

    def _has_base(self, cls: ClassInfo, wanted: frozenset[str], suffixes: tuple[str, ...]) -> bool:
        return any(b in wanted or b.endswith(suffixes) for b in self.external_bases(cls))

    def is_module(self, cls: ClassInfo) -> bool:
        return self._has_base(cls, MODULE_BASES, ("nn.Module", "LightningModule", "PreTrainedModel"))

    def is_dataset(self, cls: ClassInfo) -> bool:
        return self._has_base(cls, DATASET_BASES, ("Dataset", "DataModule"))

    def method(self, cls: ClassInfo, name: str) -> FunctionInfo | None:
        for c in self.mro(cls):
            if name in c.methods:
                return c.methods[name]
        return None

    def subclasses_of(self, cls: ClassInfo) -> list[ClassInfo]:
        return [c for c in self.classes.values() if c is not cls and cls in self.mro(c)]

    # -- calls ------------------------------------------------------------------------------
    @cached_property
    def call_sites(self) -> dict[str, list[CallSite]]:
        """Callers of each project function or class (by qualname), for following arguments inward."""
        sites: dict[str, list[CallSite]] = {}
        for sf in self.files:
            owner = self.owner_of(sf)
            for node in sf.nodes_of(ast.Call):
                assert isinstance(node, ast.Call)
                target = self.resolve(sf, node.func)
                caller = owner.get(id(node))
                if target is None and isinstance(node.func, ast.Attribute) and caller and caller.cls:
                    if isinstance(node.func.value, ast.Name) and node.func.value.id == "self":
                        target = self.method(caller.cls, node.func.attr)
                if isinstance(target, (ClassInfo, FunctionInfo)):
                    sites.setdefault(target.qualname, []).append(CallSite(caller, sf, node))
        return sites

    def owner_of(self, sf: SourceFile) -> dict[int, FunctionInfo]:
        """id(node) -> the innermost indexed function containing it (nested defs count as their parent)."""
        if sf.module not in self._owners:
            out: dict[int, FunctionInfo] = {}
            for fi in self.module_functions.get(sf.module, []):
                for node in subtree(fi.node):
                    out[id(node)] = fi
            self._owners[sf.module] = out
        return self._owners[sf.module]


def iter_scopes(index: ProjectIndex, sf: SourceFile) -> list[FunctionInfo | None]:
    """The module level (None) and every indexed function of one file."""
    return [None, *index.module_functions.get(sf.module, [])]


def scope_body(sf: SourceFile, fn: FunctionInfo | None) -> list[ast.stmt]:
    """Statements that belong to a scope: a function's body, or the module's top level minus defs."""
    if fn is not None:
        return fn.node.body
    assert sf.tree is not None
    return [s for s in sf.tree.body if not isinstance(s, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))]


_SCOPE_CACHE: dict[tuple[int, int, int], list[ast.AST]] = {}


def clear_walk_caches() -> None:
    """Forget cached walks; the engine calls this when an audit starts (keys are ids of that audit's trees)."""
    _SCOPE_CACHE.clear()


def walk_scope(stmts: list[ast.stmt]) -> list[ast.AST]:
    """Nodes of a statement list without entering nested defs or classes (scopes of their own).

    Rules ask for the same scopes again and again; each is walked once per audit. The key names the
    first and last statements, which the audit's trees keep alive, so a rebuilt list of the same
    statements hits the cache too."""
    if not stmts:
        return []
    key = (id(stmts[0]), id(stmts[-1]), len(stmts))
    cached = _SCOPE_CACHE.get(key)
    if cached is None:
        cached = []
        todo: list[ast.AST] = list(reversed(stmts))
        while todo:
            node = todo.pop()
            cached.append(node)
            for child in reversed(list(ast.iter_child_nodes(node))):
                if not isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)):
                    todo.append(child)
        _SCOPE_CACHE[key] = cached
    return cached


def subtree(node: ast.AST) -> list[ast.AST]:
    """`ast.walk(node)` as a list, computed once and kept on the node for the rest of the audit."""
    cached = getattr(node, "_trainaudit_subtree", None)
    if cached is None:
        cached = list(ast.walk(node))
        node._trainaudit_subtree = cached  # type: ignore[attr-defined]
    return cached
