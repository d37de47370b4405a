"""The project index: classes, functions and call sites of the project's own code, resolved across modules."""

from __future__ import annotations

import ast
import bisect
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import NamedTuple

from trainaudit.evidence.source import NODE_FIELDS, SourceFile, block_fields, first_line, walk

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
    """A project function or method. Its node is found through the file's outline when first asked for, so
    indexing a file does not keep its tree (see SourceFile)."""

    qualname: str
    file: SourceFile
    cls: ClassInfo | None = None
    name: str = ""
    first: int = 0  # line span, decorators included
    last: int = 0
    path: tuple[int, ...] = ()  # index in the module body, then in the class body
    _node: ast.FunctionDef | ast.AsyncFunctionDef | None = None

    @property
    def node(self) -> ast.FunctionDef | ast.AsyncFunctionDef:
        if self._node is None:
            self._node = _node_at(self.file, self.path)  # type: ignore[assignment]
        return self._node  # type: ignore[return-value]

    @property
    def params(self) -> list[str]:
        a = self.node.args
        return [p.arg for p in (*a.posonlyargs, *a.args, *a.kwonlyargs)]


def function_at(qualname: str, node: ast.FunctionDef | ast.AsyncFunctionDef, sf: SourceFile) -> FunctionInfo:
    """A FunctionInfo for a function found in a tree (a nested def), not through the index."""
    return FunctionInfo(qualname, sf, None, node.name, first_line(node), node.end_lineno or node.lineno,
                        _node=node)


@dataclass(eq=False)
class ClassInfo:
    qualname: str
    file: SourceFile
    name: str = ""
    first: int = 0
    last: int = 0
    path: tuple[int, ...] = ()
    bases: list[str] = field(default_factory=list)  # dotted, as resolved in the defining file
    methods: dict[str, FunctionInfo] = field(default_factory=dict)
    _node: ast.ClassDef | None = None

    @property
    def node(self) -> ast.ClassDef:
        if self._node is None:
            self._node = _node_at(self.file, self.path)  # type: ignore[assignment]
        return self._node  # type: ignore[return-value]

    @property
    def docstring(self) -> str:
        return ast.get_docstring(self.node) or ""


def _node_at(sf: SourceFile, path: tuple[int, ...]) -> ast.stmt:
    assert sf.tree is not None
    node: ast.stmt = sf.tree.body[path[0]]
    for at in path[1:]:
        node = node.body[at]  # type: ignore[attr-defined]
    return node


@dataclass(frozen=True)
class CallSite:
    """A call of a project function from somewhere in the project."""

    caller: FunctionInfo | None  # None: module level
    file: SourceFile
    node: ast.Call


class ProjectIndex:
    """Every definition of the project's own code, found once, looked up by dotted name."""

    def __init__(self, files: list[SourceFile]) -> None:
        self.files = [f for f in files if f.parsed]
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
        self._lookups: dict[tuple[str, str | None], ClassInfo | FunctionInfo | None] = {}
        self._star_seen: set[tuple[str, str]] = set()  # (module, name) searched by the current lookup
        self._mros: dict[int, list[ClassInfo]] = {}
        self._external: dict[int, set[str]] = {}
        self._units: dict[int, list[Unit]] = {}
        self._unit_sites: dict[tuple[int, int], dict[str, list[CallSite]]] = {}
        self._words_where: dict[Callable[[str], bool], frozenset[str]] = {}

    def _index_file(self, sf: SourceFile) -> None:
        fns: list[FunctionInfo] = []
        for o in sf.outline:
            qualname = f"{sf.module}.{o.name}"
            if o.bases is None:
                fi = FunctionInfo(qualname, sf, None, o.name, o.first, o.last, (o.at,))
                self.functions[qualname] = fi
                fns.append(fi)
                continue
            ci = ClassInfo(qualname, sf, o.name, o.first, o.last, (o.at,), list(o.bases))
            for m in o.methods:
                fi = FunctionInfo(f"{qualname}.{m.name}", sf, ci, m.name, m.first, m.last, (o.at, m.at))
                ci.methods[m.name] = fi
                self.functions[fi.qualname] = fi
                fns.append(fi)
            self.classes[qualname] = ci
        self.module_functions[sf.module] = fns

    # -- lookup -------------------------------------------------------------------------
    def lookup(self, dotted: str, origin: SourceFile | None = None, _depth: int = 0) -> ClassInfo | FunctionInfo | None:
        """Find a project definition by dotted name, following re-exports and script-relative imports."""
        if _depth == 0:  # memoised: rules resolve the same few names from the same modules over and over
            key = (dotted, origin.module if origin is not None else None)
            if key not in self._lookups:
                self._star_seen = set()
                self._lookups[key] = self._lookup(dotted, origin, 0)
            return self._lookups[key]
        return self._lookup(dotted, origin, _depth)

    def _lookup(self, dotted: str, origin: SourceFile | None, _depth: int) -> ClassInfo | FunctionInfo | None:
        if _depth > 8:
            return None
        # Files under src/ are indexed without it (see module_name), also where the project imports src/ itself
        # as a package (`from src.engine import run_epoch`).
        candidates = [dotted, dotted[4:]] if dotted.startswith("src.") else [dotted]
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
            if sf is None:
                continue
            if name in sf.aliases and sf.aliases[name] != cand:
                found = self.lookup(sf.aliases[name], sf, _depth + 1)
                if found:
                    return found
            for star in reversed(sf.star_imports):  # a package re-exporting a module: `from .trainer import *`
                key = (star, name)
                if key in self._star_seen:  # modules that star-import each other: each is searched once a lookup
                    continue
                self._star_seen.add(key)
                found = self.lookup(f"{star}.{name}", sf, _depth + 1)
                if found:
                    return found
        return None

    def resolve(self, sf: SourceFile, expr: ast.AST) -> ClassInfo | FunctionInfo | str | None:
        """What a name used in `sf` refers to: a project definition, or the dotted external name."""
        dotted = sf.resolve(expr)
        if dotted is None:
            return None
        return self.resolve_dotted(sf, dotted, isinstance(expr, ast.Name) and expr.id not in sf.aliases)

    def resolve_dotted(self, sf: SourceFile, dotted: str, bare: bool) -> ClassInfo | FunctionInfo | str:
        """What `sf.resolve` of a name gave, `dotted`, refers to (see resolve); `bare`: the name is a single word
        no import binds, which may be defined in the file itself or come from a star import."""
        if bare:
            local = self.classes.get(f"{sf.module}.{dotted}") or self.functions.get(f"{sf.module}.{dotted}")
            if local:
                return local
            for star in reversed(sf.star_imports):  # `from models import *`: the last import of a name wins
                found = self.lookup(f"{star}.{dotted}", sf)
                if found:
                    return found
        return self.lookup(dotted, sf) or dotted

    def class_at(self, path: str, line: int) -> ClassInfo | None:
        """The outermost project class whose lines hold `line` of the file at `path`."""
        return next((c for c in self._classes_by_path.get(path, ()) if c.first <= line <= c.last), None)

    @cached_property
    def _classes_by_path(self) -> dict[str, list[ClassInfo]]:
        out: dict[str, list[ClassInfo]] = {}
        for c in self.classes.values():
            out.setdefault(c.file.path, []).append(c)
        return out

    def callee(self, sf: SourceFile, func: ast.AST,
               scope: FunctionInfo | None) -> ClassInfo | FunctionInfo | str | None:
        """What a call's callee refers to, as `resolve` says, and a method of the caller's class when called on
        `self` or `super()` (`self.net_f(x)`, which `resolve` reads as the dotted name `self.net_f`)."""
        target = self.resolve(sf, func)
        if target is None or isinstance(target, str):
            bound = self.bound_callees(func, scope)
            if bound:
                return bound[0]
        return target

    def bound_callees(self, func: ast.AST, scope: FunctionInfo | None) -> list[FunctionInfo] | None:
        """The methods a call on `self` or `super()` in a method can run, or None for any other callee.
        `self.name()` runs the method the class's MRO finds, or an override in a subclass (a base trainer's `fit`
        calling the `train_step` each subclass defines); `super().name()` the next one the MRO finds."""
        if scope is None or scope.cls is None or not isinstance(func, ast.Attribute):
            return None
        cls, name, value = scope.cls, func.attr, func.value
        if isinstance(value, ast.Name) and value.id == "self":
            return self.dispatch(cls, name)
        if isinstance(value, ast.Call) and isinstance(value.func, ast.Name) and value.func.id == "super" and (
                not value.args or isinstance(value.args[0], ast.Name) and value.args[0].id == cls.name):
            # `super().name()`, or the older `super(Cls, self).name()` naming the method's own class
            return next(([c.methods[name]] for c in self.mro(cls)[1:] if name in c.methods), [])
        return None

    def dispatch(self, cls: ClassInfo, name: str) -> list[FunctionInfo]:
        """The methods `self.name()` can run in a method of `cls`: the one its MRO finds, and each override in a
        subclass (a base trainer's `train` calling the `_train_epoch` every subclass defines)."""
        found = self.method(cls, name)
        out = [found] if found is not None else []
        return out + [m for sub in self.subclasses_of(cls) if (m := sub.methods.get(name)) and m not in out]

    def passes_self(self, site: CallSite, fn: FunctionInfo) -> bool:
        """Whether a call of method `fn` passes the instance as its first argument: `Base.__init__(self, x)`."""
        func = site.node.func
        if fn.cls is None or func.__class__ is not ast.Attribute or any(
                getattr(d, "id", None) in ("staticmethod", "classmethod") for d in fn.node.decorator_list):
            return False
        return isinstance(self.resolve(site.file, func.value), ClassInfo)  # type: ignore[attr-defined]

    def sites_of(self, fn: FunctionInfo) -> list[CallSite]:
        """The project calls that run `fn`: calls of it (through `self.` and `super().` too) and, for an
        `__init__`, the instantiations of its class and of each subclass that inherits it."""
        sites = list(self.call_sites.get(fn.qualname, []))
        if fn.name == "__init__" and fn.cls is not None:
            for c in self.descendants(fn.cls):
                if self.method(c, "__init__") is fn:
                    sites += self.call_sites.get(c.qualname, [])
        return sites

    def class_named(self, name: str) -> list[ClassInfo]:
        """Classes by simple or dotted name (a spec may give either)."""
        if name in self.classes:
            return [self.classes[name]]
        return list(self.classes_by_name.get(name.replace(":", ".").rsplit(".", 1)[-1], []))

    def close(self) -> None:
        """Break the index's reference cycles (classes and their methods, the call-site table and the index) so
        that the audit's trees are freed by reference counting when it ends, not by a full collection that
        walks them all. The index is not to be used after."""
        for c in self.classes.values():
            c.methods = {}
        self.__dict__.pop("call_sites", None)
        self.__dict__.pop("_methods_by_name", None)

    # -- class hierarchy ------------------------------------------------------------------
    def mro(self, cls: ClassInfo) -> list[ClassInfo]:
        """The class and its project bases, breadth first (memoised; callers must not change the list)."""
        cached = self._mros.get(id(cls))
        if cached is None:
            cached = self._mros[id(cls)] = self._mro(cls)
        return cached

    def _mro(self, cls: ClassInfo) -> list[ClassInfo]:
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
        return set(self._external_bases(cls))

    def _external_bases(self, cls: ClassInfo) -> set[str]:
        """Memoised; callers must not change the set."""
        cached = self._external.get(id(cls))
        if cached is None:
            cached = self._external[id(cls)] = set()
            for c in self.mro(cls):
                cached.update(b for b in c.bases if not isinstance(self.lookup(b, c.file), ClassInfo))
        return cached

    def _has_base(self, cls: ClassInfo, wanted: frozenset[str], suffixes: tuple[str, ...]) -> bool:
        return any(b in wanted or b.endswith(suffixes) for b in self._external_bases(cls))

    def is_module(self, cls: ClassInfo) -> bool:
        return self._has_base(cls, MODULE_BASES, ("nn.Module", "LightningModule", "PreTrainedModel"))

    def is_dataset(self, cls: ClassInfo) -> bool:
        return self._has_base(cls, DATASET_BASES, ("Dataset", "DataModule"))

    @cached_property
    def method_names(self) -> frozenset[str]:
        """Every method name of every project class: `method(cls, name)` is None for a name outside it."""
        return frozenset(name for c in self.classes.values() for name in c.methods)

    def methods_named(self, name: str) -> list[FunctionInfo]:
        """Every project method of that name, in index order."""
        return self._methods_by_name.get(name, [])

    @cached_property
    def _methods_by_name(self) -> dict[str, list[FunctionInfo]]:
        out: dict[str, list[FunctionInfo]] = {}
        for c in self.classes.values():
            for name, m in c.methods.items():
                out.setdefault(name, []).append(m)
        return out

    def method(self, cls: ClassInfo, name: str) -> FunctionInfo | None:
        for c in self.mro(cls):
            if name in c.methods:
                return c.methods[name]
        return None

    def subclasses_of(self, cls: ClassInfo) -> list[ClassInfo]:
        return [c for c in self.descendants(cls) if c is not cls]

    def descendants(self, cls: ClassInfo) -> list[ClassInfo]:
        """Classes whose mro holds `cls` (itself included), in index order."""
        return self._descendants.get(id(cls), [])

    @cached_property
    def _descendants(self) -> dict[int, list[ClassInfo]]:
        out: dict[int, list[ClassInfo]] = {}
        for c in self.classes.values():
            for b in self.mro(c):
                out.setdefault(id(b), []).append(c)
        return out

    # -- where names are spelled -------------------------------------------------------------
    # A use of a project definition resolves through its dotted name, whose last part is spelled in the file
    # that uses it: the definition's own name, or an import alias that leads to it. Looking names up in each
    # file's words finds the few files that can use a definition without walking every tree.
    @cached_property
    def _alias_keys(self) -> dict[str, set[str]]:
        """Last part of an alias target -> the alias names bound to it, over every file."""
        out: dict[str, set[str]] = {}
        for sf in self.files:
            for key, target in sf.aliases.items():
                last = target.rpartition(".")[2]
                if last != key:
                    out.setdefault(last, set()).add(key)
        return out

    def spellings(self, name: str) -> set[str]:
        """Names a use of a definition called `name` can be spelled with: the name, and aliases to it."""
        out = {name}
        todo = [name]
        while todo:
            for key in self._alias_keys.get(todo.pop(), ()):
                if key not in out:
                    out.add(key)
                    todo.append(key)
        return out

    @cached_property
    def def_spellings(self) -> frozenset[str]:
        """Every word that can name a project class or function (its name or an alias to it). A scope whose
        words miss this set cannot call into the project."""
        names = {c.name for c in self.classes.values()} | {f.name for f in self.functions.values()}
        return frozenset(w for n in names for w in self.spellings(n))

    @cached_property
    def _files_by_word(self) -> dict[str, list[SourceFile]]:
        """Spelling of a definition -> the files (in index order) whose text has that word."""
        out: dict[str, list[SourceFile]] = {}
        wanted = self.def_spellings
        for sf in self.files:
            for w in sf.words & wanted:
                out.setdefault(w, []).append(sf)
        return out

    def files_spelling(self, names: set[str]) -> list[SourceFile]:
        """Files, in index order, whose text has any of `names` (each a spelling of some definition)."""
        by_word = self._files_by_word
        hits = {id(sf): sf for n in names for sf in by_word.get(n, ())}
        if len(hits) <= 1:
            return list(hits.values())
        order = self._file_order
        return sorted(hits.values(), key=lambda sf: order[id(sf)])

    @cached_property
    def all_words(self) -> frozenset[str]:
        """Every word of every file (see SourceFile.words)."""
        return frozenset().union(*(sf.words for sf in self.files))

    def words_where(self, test: Callable[[str], bool]) -> frozenset[str]:
        """The project's words that pass `test` (computed once per test). A file whose words are disjoint from
        them cannot hold an identifier that passes: one set operation instead of a walk of its tree."""
        found = self._words_where.get(test)
        if found is None:
            found = self._words_where[test] = frozenset(w for w in self.all_words if test(w))
        return found

    @cached_property
    def _file_order(self) -> dict[int, int]:
        return {id(sf): i for i, sf in enumerate(self.files)}

    # -- calls ------------------------------------------------------------------------------
    @cached_property
    def call_sites(self) -> CallSites:
        """Callers of each project function or class (by qualname), for following arguments inward."""
        return CallSites(self)

    def sites_in(self, sf: SourceFile) -> dict[str, list[CallSite]]:
        """The project calls of one file, by callee qualname, in unit order (see `units`)."""
        out: dict[str, list[CallSite]] = {}
        for i in range(len(self.units(sf))):
            for q, sites in self.unit_sites(sf, i).items():
                out.setdefault(q, []).extend(sites)
        return out

    def units(self, sf: SourceFile) -> list[Unit]:
        """The file cut into call-site units, in source order: each top-level statement, except that a class
        is cut into its header (decorators, bases, keywords) and each statement of its body."""
        found = self._units.get(id(sf))
        if found is None:
            assert sf.tree is not None
            fn_of = {id(fi.node): fi for fi in self.module_functions.get(sf.module, [])}
            found = self._units[id(sf)] = []
            for stmt in sf.tree.body:
                if isinstance(stmt, ast.ClassDef):
                    header = [*stmt.decorator_list, *stmt.bases, *stmt.keywords]
                    if header:
                        found.append(Unit(min(n.lineno for n in header), max(n.end_lineno or n.lineno for n in header),
                                          tuple(header), None))
                    found += [_unit(item, fn_of.get(id(item))) for item in stmt.body]
                else:
                    found.append(_unit(stmt, fn_of.get(id(stmt))))
        return found

    def units_calling(self, sf: SourceFile, name: str) -> list[int]:
        """Indexes of the units whose lines spell the word `name` as a call spells it (see `_call_at`; all units
        of a non-ASCII file, whose identifiers Python reads in NFKC form)."""
        units = self.units(sf)
        if not sf.text.isascii():
            return list(range(len(units)))
        lines = sorted(set(sf.lines_at(_call_at(sf.text, name))))
        firsts = [u.first for u in units]
        out: list[int] = []
        for line in lines:
            i = bisect.bisect_right(firsts, line) - 1
            while i >= 0 and units[i].first <= line:  # spans are ordered; a class header may overlap its body
                if line <= units[i].last and i not in out:
                    out.append(i)
                i -= 1
        return sorted(out)

    def unit_sites(self, sf: SourceFile, i: int) -> dict[str, list[CallSite]]:
        """The project calls of one unit, by callee qualname, in `walk` order, computed once. Only a call
        spelled like a definition (or an alias to one) can resolve to it: the others are not resolved."""
        key = (id(sf), i)
        sites = self._unit_sites.get(key)
        if sites is None:
            sites = self._unit_sites[key] = {}
            spelled = self.def_spellings
            for node, caller in _calls_with_owner(self.units(sf)[i], self._fn_nodes(sf)):
                func = node.func
                last = func.attr if func.__class__ is ast.Attribute else getattr(func, "id", None)
                if last not in spelled:
                    continue
                bound = self.bound_callees(func, caller)
                if bound is not None:
                    targets: list[ClassInfo | FunctionInfo] = list(bound)
                else:
                    target = self.resolve(sf, func)
                    targets = [target] if isinstance(target, (ClassInfo, FunctionInfo)) else []
                for target in targets:
                    sites.setdefault(target.qualname, []).append(CallSite(caller, sf, node))
        return sites

    def _fn_nodes(self, sf: SourceFile) -> dict[int, FunctionInfo]:
        return {id(fi.node): fi for fi in self.module_functions.get(sf.module, [])}

    def owner_of(self, sf: SourceFile) -> dict[int, FunctionInfo]:
        """id(node) -> the innermost indexed function containing it (nested defs count as their parent)."""
        if sf.module not in self._owners:
            out: dict[int, FunctionInfo] = {}
            for fi in self.module_functions.get(sf.module, []):
                for node in subtree(fi.node):
                    out[id(node)] = fi
            self._owners[sf.module] = out
        return self._owners[sf.module]


class Unit(NamedTuple):
    """A part of a file that call sites are collected from: its line span, nodes and owner function."""

    first: int
    last: int
    nodes: tuple[ast.AST, ...]
    owner: FunctionInfo | None


def _word_at(text: str, word: str) -> Iterator[int]:
    """Offsets where `word` occurs as a whole identifier-like word of ASCII text (str.find: compiling a regex
    per name cost more than the search)."""
    at, n = text.find(word), len(word)
    while at >= 0:
        before = text[at - 1] if at else " "
        after = text[at + n: at + n + 1] or " "
        if not (before.isalnum() or before == "_" or after.isalnum() or after == "_"):
            yield at
        at = text.find(word, at + n)


def _call_at(text: str, word: str) -> Iterator[int]:
    """Offsets where `word` can be spelled as the callee of a call: followed by `(` (or by `)`, which closes a
    parenthesised callee such as `(train)(x)`), with only whitespace, comments or line continuations between,
    and not named by `def` or `class`. Most spellings of a function's name are its definition and imports; the
    call-site search walks only the units that can call it."""
    n = len(text)
    for at in _word_at(text, word):
        j = at + len(word)
        while j < n:
            c = text[j]
            if c in " \t\r\n\f\\":
                j += 1
            elif c == "#":
                end = text.find("\n", j)
                j = n if end < 0 else end
            else:
                break
        if j < n and text[j] in "()" and not _defined_at(text, at):
            yield at


def _defined_at(text: str, at: int) -> bool:
    """Whether the name at `at` follows `def` or `class` (what follows it is parameters or bases, not arguments)."""
    k = at
    while k and text[k - 1] in " \t":
        k -= 1
    for keyword in ("def", "class"):
        start = k - len(keyword)
        if start >= 0 and text.startswith(keyword, start) and k < at and (
                not start or not (text[start - 1].isalnum() or text[start - 1] in "_.")):
            return True
    return False


def _unit(stmt: ast.stmt, owner: FunctionInfo | None) -> Unit:
    return Unit(first_line(stmt), stmt.end_lineno or stmt.lineno, (stmt,), owner)


def _calls_with_owner(unit: Unit, fn_of: dict[int, FunctionInfo]) -> list[tuple[ast.Call, FunctionInfo | None]]:
    """Every call of a unit in `walk` order, with the innermost indexed function containing it (see
    ProjectIndex.owner_of), found in one walk."""
    fields = NODE_FIELDS
    out: list[tuple[ast.Call, FunctionInfo | None]] = []
    todo: list[tuple[ast.AST, FunctionInfo | None]] = [(n, unit.owner) for n in unit.nodes]
    append = todo.append
    for node, owner in todo:
        cls = node.__class__
        if cls is ast.Call:
            out.append((node, owner))  # type: ignore[arg-type]
        elif id(node) in fn_of:
            owner = fn_of[id(node)]
        for name in fields.get(cls, node._fields):
            v = getattr(node, name, None)
            if v.__class__ is list:
                for x in v:
                    if isinstance(x, ast.AST):
                        append((x, owner))
            elif isinstance(v, ast.AST):
                append((v, owner))
    return out


class CallSites(Mapping[str, list[CallSite]]):
    """qualname -> its project call sites, in file order then tree order; built per callee on demand.

    A call resolves to a definition only through a name spelled in the calling file (see
    ProjectIndex.spellings), so only the files that spell the callee are walked: on a 1,000-file tree
    resolving every call of every file took 0.6 s, a lookup now takes microseconds."""

    def __init__(self, index: ProjectIndex) -> None:
        self._index = index
        self._done: dict[str, list[CallSite]] = {}
        self._merged: dict[str, list[tuple[tuple[int, int], CallSite]]] = {}  # (file, unit) order and site
        self._walked: set[tuple[int, int]] = set()  # (id(file), unit index) walked so far
        self._names: set[str] = set()  # spellings whose files have all been walked

    def __getitem__(self, qualname: str) -> list[CallSite]:
        if qualname not in self._done:
            self._done[qualname] = self._sites(qualname)
        found = self._done[qualname]
        if not found:
            raise KeyError(qualname)
        return found

    def _sites(self, qualname: str) -> list[CallSite]:
        index = self._index
        target = index.functions.get(qualname) or index.classes.get(qualname)
        if target is None:
            return []
        # Many callees share a spelling (every script's `main`): walk each unit once, merge, never rescan. Only
        # the units whose lines spell the name as a call does are walked (see _call_at).
        order = index._file_order
        for name in index.spellings(target.name) - self._names:
            self._names.add(name)
            for sf in index.files_spelling({name}):
                for i in index.units_calling(sf, name):
                    if (id(sf), i) not in self._walked:
                        self._walked.add((id(sf), i))
                        for q, sites in index.unit_sites(sf, i).items():
                            self._merged.setdefault(q, []).extend(((order[id(sf)], i), s) for s in sites)
        return [s for _, s in sorted(self._merged.get(qualname, ()), key=lambda pair: pair[0])]  # stable

    def _all(self) -> dict[str, list[CallSite]]:
        out: dict[str, list[CallSite]] = {}
        for sf in self._index.files:
            for q, sites in self._index.sites_in(sf).items():
                out.setdefault(q, []).extend(sites)
        return out

    def __iter__(self) -> Iterator[str]:
        return iter(self._all())

    def __len__(self) -> int:
        return len(self._all())


def iter_scopes(index: ProjectIndex, sf: SourceFile) -> list[FunctionInfo | None]:
    """The module level (None) and every indexed function of one file."""
    return [None, *index.module_functions.get(sf.module, [])]


# Definitions: statements whose bodies are scopes of their own.
_NESTED_SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)


def scope_text(sf: SourceFile, fn: FunctionInfo | None) -> str:
    """Source text holding a scope's nodes, for word and substring prefilters: a function's lines from its first
    decorator to its end, or the file without its top-level definitions (cut in a few slices, not joined line by
    line). Every identifier of the scope's nodes is spelled in it. Read from line spans: no tree is needed."""
    starts, text = sf.line_starts, sf.text

    def start(line: int) -> int:
        return starts[line - 1] if line <= len(starts) else len(text)

    if fn is not None:
        return text[start(fn.first):start(fn.last + 1)]
    pieces: list[str] = []
    at = 0
    for o in sf.outline:  # every top-level def and class, in order
        pieces.append(text[at:start(o.first)])
        at = start(o.last + 1)
    pieces.append(text[at:])
    return "".join(pieces)


def main_guard_lines(sf: SourceFile) -> list[tuple[int, int]]:
    """Line spans of a file's top-level `if __name__ == "__main__":` blocks."""
    assert sf.tree is not None
    out = []
    for stmt in sf.tree.body:
        test = stmt.test if isinstance(stmt, ast.If) else None
        if (isinstance(test, ast.Compare) and len(test.comparators) == 1 and isinstance(test.ops[0], ast.Eq)
                and {ast.unparse(test.left), ast.unparse(test.comparators[0])} == {"__name__", "'__main__'"}):
            out.append((stmt.lineno, stmt.end_lineno or stmt.lineno))
    return out


def scope_body(sf: SourceFile, fn: FunctionInfo | None) -> list[ast.stmt]:
    """Statements that belong to a scope: a function's body, or the module's top level minus defs."""
    if fn is not None:
        return fn.node.body
    assert sf.tree is not None
    return [s for s in sf.tree.body if not isinstance(s, _NESTED_SCOPES)]


_SCOPE_CACHE: dict[tuple[int, int, int], list[ast.AST]] = {}
# Nodes that open a scope of their own: a scope's walk stops at them.
OWN_SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)


def clear_walk_caches() -> None:
    """Forget cached walks: when an audit starts (engine) and ends (Program.close); keys are ids of its trees."""
    _SCOPE_CACHE.clear()
    _STMT_CACHE.clear()
    _SUBTREE_CACHE.clear()


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
        fields = NODE_FIELDS
        while todo:
            node = todo.pop()
            cached.append(node)
            children: list[ast.AST] = []  # ast.iter_child_nodes(node), reading only fields that hold nodes
            for name in fields.get(node.__class__, node._fields):
                v = getattr(node, name, None)
                if v.__class__ is list:
                    children += [x for x in v if isinstance(x, ast.AST) and not isinstance(x, OWN_SCOPES)]
                elif isinstance(v, ast.AST) and not isinstance(v, OWN_SCOPES):
                    children.append(v)
            todo += reversed(children)
        _SCOPE_CACHE[key] = cached
    return cached


_STMT_CACHE: dict[tuple[int, int, int], list[ast.stmt]] = {}


def scope_statements(stmts: list[ast.stmt]) -> list[ast.stmt]:
    """The statements of `walk_scope(stmts)`, in the same order, without visiting any expression.

    Statements nest only in statement blocks, so this sees a fraction of the nodes: when a rule wants only
    assignments, returns or loops, it costs a tenth of the full walk."""
    if not stmts:
        return []
    key = (id(stmts[0]), id(stmts[-1]), len(stmts))
    cached = _STMT_CACHE.get(key)
    if cached is None:
        cached = _STMT_CACHE[key] = statements_in_scope(stmts)
    return cached


def statements_in_scope(stmts: list[ast.stmt]) -> list[ast.stmt]:
    """scope_statements without the cache: for a tree the audit will not keep (see source.FILE_FACTS)."""
    out: list[ast.stmt] = []
    todo: list[ast.AST] = list(reversed(stmts))
    while todo:
        node = todo.pop()
        if isinstance(node, ast.stmt):
            out.append(node)
        for name in reversed(block_fields(node.__class__)):
            todo += [c for c in reversed(getattr(node, name)) if not isinstance(c, _NESTED_SCOPES)]
    return out


_SUBTREE_CACHE: dict[int, list[ast.AST]] = {}


def subtree(node: ast.AST) -> list[ast.AST]:
    """`ast.walk(node)` as a list, computed once per audit. Kept by id rather than on the node, where the list
    holding the node would make a reference cycle: the tree would outlive the audit until a full collection."""
    cached = _SUBTREE_CACHE.get(id(node))
    if cached is None:
        cached = _SUBTREE_CACHE[id(node)] = walk(node)
    return cached
