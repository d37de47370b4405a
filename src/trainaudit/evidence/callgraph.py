"""Call-graph reachability over the project's own code: which scopes run together with some training code."""

from __future__ import annotations

import ast
from collections.abc import Iterable

from trainaudit.evidence.index import ClassInfo, FunctionInfo, ProjectIndex, iter_scopes, scope_body, subtree
from trainaudit.evidence.source import SourceFile

Scope = tuple[SourceFile, FunctionInfo | None]  # a file's module level (None) or one of its functions

MAX_DEPTH = 8  # call chains deeper than this are not followed (keeps large projects fast)


def scope_key(scope: Scope) -> tuple[str, str]:
    sf, fn = scope
    return sf.path, fn.qualname if fn is not None else ""


def scope_nodes(sf: SourceFile, fn: FunctionInfo | None) -> Iterable[ast.AST]:
    """Every node of a scope, closures included (they run as part of it); the module level skips defs."""
    stmts = [fn.node] if fn is not None else scope_body(sf, fn)
    for stmt in stmts:
        yield from subtree(stmt)


def referenced(index: ProjectIndex, sf: SourceFile, fn: FunctionInfo | None,
               nodes: Iterable[ast.AST]) -> list[FunctionInfo]:
    """Project functions that `nodes` call or pass along, and every method of project classes they name.

    A referenced function counts as run (`compute_metrics=compute_metrics`, `fire.Fire(train)`), and a named
    class brings all its methods, because frameworks call hooks such as `validation_step` by name.
    """
    out: dict[str, FunctionInfo] = {}

    def add_class(cls: ClassInfo) -> None:
        for c in index.mro(cls):
            for m in c.methods.values():
                out.setdefault(m.qualname, m)

    for node in nodes:
        if isinstance(node, (ast.Name, ast.Attribute)) and isinstance(node.ctx, ast.Load):
            if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "self"
                    and fn is not None and fn.cls is not None):
                m = index.method(fn.cls, node.attr)
                if m is not None:
                    out.setdefault(m.qualname, m)
                continue
            target = index.resolve(sf, node)
            if isinstance(target, FunctionInfo):
                out.setdefault(target.qualname, target)
            elif isinstance(target, ClassInfo):
                add_class(target)
    return list(out.values())


def callers(index: ProjectIndex, fn: FunctionInfo) -> list[Scope]:
    """Scopes that call a function; for a method, the scopes that instantiate its class."""
    sites = list(index.call_sites.get(fn.qualname, []))
    if fn.cls is not None:
        for c in index.descendants(fn.cls):
            sites += index.call_sites.get(c.qualname, [])
    return [(s.file, s.caller) for s in sites]


def reach_down(index: ProjectIndex, roots: Iterable[Scope]) -> dict[tuple[str, str], Scope]:
    """The roots and every project function they reach through calls and references."""
    seen: dict[tuple[str, str], Scope] = {}
    todo = [(r, 0) for r in roots]
    while todo:
        scope, depth = todo.pop()
        key = scope_key(scope)
        if key in seen:
            continue
        seen[key] = scope
        if depth >= MAX_DEPTH:
            continue
        sf, fn = scope
        for callee in referenced(index, sf, fn, scope_nodes(sf, fn)):
            todo.append(((callee.file, callee), depth + 1))
    return seen


def reach_up(index: ProjectIndex, roots: Iterable[Scope]) -> dict[tuple[str, str], Scope]:
    """The roots and every scope that (transitively) calls them."""
    seen: dict[tuple[str, str], Scope] = {}
    todo = [(r, 0) for r in roots]
    while todo:
        scope, depth = todo.pop()
        key = scope_key(scope)
        if key in seen:
            continue
        seen[key] = scope
        if scope[1] is not None and depth < MAX_DEPTH:
            todo.extend((c, depth + 1) for c in callers(index, scope[1]))
    return seen


def program_of(index: ProjectIndex, sf: SourceFile, anchors: Iterable[FunctionInfo | None]) -> list[Scope]:
    """The code that runs together with some scopes of a file: its module level, the anchors, their callers,
    and everything those reach. A method anchor brings its whole class (framework hooks run by name)."""
    roots: list[Scope] = [(sf, None)]
    for fn in anchors:
        if fn is None:
            continue
        roots.append((fn.file, fn))
        if fn.cls is not None:
            roots += [(m.file, m) for c in index.mro(fn.cls) for m in c.methods.values()]
    up = reach_up(index, roots)
    return list(reach_down(index, up.values()).values())


def file_scopes(index: ProjectIndex, sf: SourceFile) -> list[Scope]:
    return [(sf, fn) for fn in iter_scopes(index, sf)]
