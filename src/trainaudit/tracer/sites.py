"""Where things are: project-relative paths, class statements, and the user frame that built a module."""

from __future__ import annotations

import ast
import os
import sys
from functools import lru_cache

from trainaudit.tracer.trace import Where

_SKIP_PREFIXES: tuple[str, ...] = (os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep,)


class Paths:
    """Maps absolute file names to paths relative to the project (the scratch copy or the original)."""

    def __init__(self, *roots: str) -> None:
        self.roots = [os.path.realpath(r) + os.sep for r in roots if r]

    def where(self, filename: str, line: int | None) -> Where:
        real = os.path.realpath(filename) if filename and not filename.startswith("<") else filename
        for root in self.roots:
            if real.startswith(root):
                return Where(real[len(root):].replace(os.sep, "/"), line, True)
        return Where(filename, line, False)

    def text(self, s: str) -> str:
        """A traceback line with scratch paths shown project-relative."""
        for root in self.roots:
            s = s.replace(root, "")
        return s


def skip_library(*dirs: str) -> None:
    """Frames from these folders (torch, trainaudit) are never the user's instantiation site."""
    global _SKIP_PREFIXES
    _SKIP_PREFIXES = tuple({*_SKIP_PREFIXES, *(os.path.abspath(d) + os.sep for d in dirs)})


def creation_frame(obj: object, depth: int = 2):
    """The first frame above `depth` that is neither library code nor `obj`'s own __init__ chain."""
    f = sys._getframe(depth)
    while f is not None:
        fn = f.f_code.co_filename
        if not fn.startswith(_SKIP_PREFIXES) and (obj is None or f.f_locals.get("self") is not obj):
            return f
        f = f.f_back
    return None


@lru_cache(maxsize=512)
def _classes_in(filename: str) -> tuple[tuple[str, int, int], ...]:
    try:
        with open(filename, "rb") as fh:
            tree = ast.parse(fh.read())
    except (OSError, SyntaxError, ValueError):
        return ()
    return tuple((n.name, n.lineno, n.end_lineno or n.lineno) for n in ast.walk(tree) if isinstance(n, ast.ClassDef))


@lru_cache(maxsize=4096)
def class_site(cls: type) -> tuple[str, int] | None:
    """The file and line of `class X` found from a method's code object, so it works for __main__ too."""
    for value in vars(cls).values():
        fn = getattr(value, "__func__", value)
        code = getattr(fn, "__code__", None)
        if code is None or code.co_filename.startswith("<"):
            continue
        best = None
        for name, start, end in _classes_in(code.co_filename):
            if name == cls.__name__ and start <= code.co_firstlineno <= end and (best is None or start > best):
                best = start
        return (code.co_filename, best) if best else (code.co_filename, code.co_firstlineno)
    return None
