"""Source evidence: each .py file and notebook read and parsed, with import aliases resolved."""

from __future__ import annotations

import ast
import os
import re
import sys
import unicodedata
from bisect import bisect_right
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from itertools import accumulate
from pathlib import Path
from typing import NamedTuple

from trainaudit.evidence.files import is_test_path
from trainaudit.evidence.notebooks import NotebookError, read_notebook

MAX_SOURCE_BYTES = 5_000_000  # larger .py files are generated code, not training scripts


def _node_fields() -> dict[type, tuple[str, ...]]:
    """For each AST class, the fields that can hold nodes worth visiting (from the ASDL signature in its docstring).
    Skipped: identifiers, strings, ints and constants, and the operator and context fields, whose nodes (`Load`,
    `Add`, `Eq`, ...) are shared singletons without a position: rules read them through their parent (`node.ctx`,
    `node.op`), and leaving them out spares a third of every walk. Classes whose signature cannot be read keep
    all their fields."""
    out: dict[type, tuple[str, ...]] = {}
    leaves = {"identifier", "string", "int", "constant", "expr_context", "operator", "unaryop", "cmpop", "boolop"}
    for name in dir(ast):
        cls = getattr(ast, name)
        if not (isinstance(cls, type) and issubclass(cls, ast.AST)):
            continue
        m = re.fullmatch(r"\w+\((.*)\)", (cls.__doc__ or "").strip())
        typed = [part.split() for part in m.group(1).split(",") if part.strip()] if m else []
        if m and all(len(t) == 2 for t in typed) and [t[1] for t in typed] == list(cls._fields):
            out[cls] = tuple(f for typ, f in typed if typ.rstrip("*?") not in leaves)
    return out


NODE_FIELDS = _node_fields()
# ASCII characters that cannot be part of an identifier become spaces; other characters stay (identifiers may
# hold non-ASCII letters).
_WORD_BREAKS = str.maketrans({c: " " for c in map(chr, range(128)) if not (c.isalnum() or c == "_")})
_AST = ast.AST
_LINE_BREAK = re.compile(r"\r\n?|\n")


def walk(node: ast.AST) -> list[ast.AST]:
    """`list(ast.walk(node))` without operator and context nodes (see NODE_FIELDS), in the same breadth-first
    order, about twice as fast: it reads only the fields that can hold such nodes and appends to the list it is
    iterating."""
    out = [node]
    append = out.append
    fields = NODE_FIELDS
    for n in out:
        for name in fields.get(n.__class__, n._fields):
            v = getattr(n, name, None)
            if v.__class__ is list:
                for x in v:
                    if isinstance(x, _AST):
                        append(x)
            elif isinstance(v, _AST):
                append(v)
    return out


class Outline(NamedTuple):
    """A top-level definition of a file, as the project index needs it without the tree: where it is in the
    module body, its line span (decorators included) and, for a class, its resolved bases and methods."""

    name: str
    at: int  # index in the module's body
    first: int
    last: int
    bases: tuple[str, ...] | None  # None: a function
    methods: tuple[Outline, ...] = ()  # `at` indexes the class body


@dataclass(eq=False)  # one object per file: identity is equality (comparing fields would compare whole trees)
class SourceFile:
    """One source file; `parsed` says whether it parsed (else see `error`), `tree` is None when it did not.

    Every file is parsed once when read, to check it and take its imports and outline; the reader keeps that
    tree only when told the checks will probably read it (see read_source; parallel parses the others in worker
    processes). Another is parsed again, then kept, when a check first asks for it. Keeping every tree of a
    10,000-file project cost about 0.8x the parse itself (1 GB of nodes: page faults, then freeing them cold at
    the end)."""

    path: str  # relative to the project root
    module: str  # dotted module name the project would import it as
    text: str = ""
    parsed: bool = False
    outline: tuple[Outline, ...] = ()
    error: str | None = None
    error_line: int | None = None
    notebook_map: tuple[tuple[int, int], ...] | None = None
    aliases: dict[str, str] = field(default_factory=dict)  # local name -> dotted target
    star_imports: tuple[str, ...] = ()  # modules imported with `from m import *`, dotted, in import order
    is_test: bool = False
    facts: dict[str, object] = field(default_factory=dict)  # see FILE_FACTS
    _lines: list[str] | None = None
    _by_type: dict[type, list[ast.AST]] | None = None
    _words: frozenset[str] | None = None
    _normalised: str | None = None
    _starts: list[int] | None = None
    _tree: ast.Module | None = None

    @property
    def tree(self) -> ast.Module | None:
        """The file's tree, parsed on first use and kept for the rest of the audit (node identity is stable)."""
        if self._tree is None and self.parsed:
            self._tree = reparse(self.text, self.path)
        return self._tree

    def fact(self, name: str) -> object:
        """The file's fact `name` (see FILE_FACTS): computed when the file was parsed without keeping its tree,
        else now, from the tree."""
        if name not in self.facts:
            assert self.tree is not None, "only parsed files have facts"
            self.facts[name] = FILE_FACTS[name](self, self.tree)
        return self.facts[name]

    def imports(self, module: str) -> bool:
        """Whether this file imports `module`, or a name from it (as its import aliases resolve)."""
        return any(t == module or t.startswith(module + ".") for t in self.aliases.values())

    def mentions(self, *words: str) -> bool:
        """Cheap prefilter: does the text contain any of these words? (A substring search, no parsing.)

        Python reads identifiers in NFKC form, so a non-ASCII file is searched in that form too."""
        if any(w in self.text for w in words):
            return True
        if self.text.isascii():
            return False
        if self._normalised is None:
            self._normalised = unicodedata.normalize("NFKC", self.text)
        return any(w in self._normalised for w in words)

    @property
    def words(self) -> frozenset[str]:
        """Every identifier-like word of the text (code, strings and comments alike), found without parsing:
        a name the code uses is among them. About a tenth of the cost of walking the tree."""
        if self._words is None:
            words = self.text.translate(_WORD_BREAKS).split()
            if not self.text.isascii():
                words = [w if w.isascii() else unicodedata.normalize("NFKC", w) for w in words]
            self._words = frozenset(words)
        return self._words

    def nodes_of(self, *types: type) -> list[ast.AST]:
        """Every node of the given types, in source order, from one cached walk of the tree."""
        if self._by_type is None:
            self._by_type = {}
            if self.tree is not None:
                by_type = self._by_type
                for node in walk(self.tree):
                    cls = node.__class__
                    if cls in by_type:
                        by_type[cls].append(node)
                    else:
                        by_type[cls] = [node]
        if len(types) == 1:
            return self._by_type.get(types[0], [])
        out = [n for t in types for n in self._by_type.get(t, [])]
        return sorted(out, key=lambda n: (getattr(n, "lineno", 0), getattr(n, "col_offset", 0)))

    @property
    def line_starts(self) -> list[int]:
        """Offset in `text` where each line starts (line n at index n - 1), with Python's line breaks."""
        if self._starts is None:
            text = self.text
            if "\r" in text:
                self._starts = [0, *(m.end() for m in _LINE_BREAK.finditer(text))]
            else:  # 3x faster than the regex: each line starts one past the end of the one before
                self._starts = list(accumulate(map((1).__add__, map(len, text.split("\n"))), initial=0))[:-1]
        return self._starts

    def lines_at(self, offsets: Iterable[int]) -> list[int]:
        """The line of each offset into `text`."""
        starts = self.line_starts
        return [bisect_right(starts, at) for at in offsets]

    def lines_spelling(self, words: Iterable[str]) -> list[int]:
        """The lines, ascending and distinct, on which the text holds any of `words` (a substring search)."""
        text = self.text
        offsets: list[int] = []
        for w in words:
            at = text.find(w)
            while at >= 0:
                offsets.append(at)
                at = text.find(w, at + 1)
        # Most files spell none of the words: their line offsets (15 us a file) are not computed for nothing.
        return sorted(set(self.lines_at(offsets))) if offsets else []

    @property
    def is_notebook(self) -> bool:
        return self.notebook_map is not None

    def line_text(self, line: int | None) -> str:
        if not line:
            return ""
        if self._lines is None:
            self._lines = self.text.splitlines()
        return self._lines[line - 1].strip() if 0 < line <= len(self._lines) else ""

    def cell_of(self, line: int | None) -> tuple[int | None, int | None]:
        """Notebook cell index and line within it for a line of the combined text."""
        if not self.notebook_map or not line or line > len(self.notebook_map):
            return None, None
        return self.notebook_map[line - 1]

    def resolve(self, node: ast.AST) -> str | None:
        """Dotted name of a Name/Attribute chain through this file's imports: `T.randn` -> `torch.randn`."""
        parts: list[str] = []
        while isinstance(node, ast.Attribute):
            parts.append(node.attr)
            node = node.value
        if not isinstance(node, ast.Name):
            return None
        base = self.aliases.get(node.id, node.id)
        return ".".join([base, *reversed(parts)])


# What a check needs to know of every file, and would otherwise parse every file again to learn: name ->
# function(file, tree) returning a small picklable value. A file parsed without keeping its tree has its facts
# computed then (in the worker process that parses it, see parallel); the others compute them on first use. A fact
# function must not use the walk caches of `index`, whose keys are ids of nodes that stay alive.
FactFn = Callable[[SourceFile, ast.Module], object]
FILE_FACTS: dict[str, FactFn] = {}


def file_fact(name: str) -> Callable[[FactFn], FactFn]:
    """Register a function as the file fact `name`."""

    def deco(fn: FactFn) -> FactFn:
        FILE_FACTS[name] = fn
        return fn

    return deco


def module_name(rel: str) -> str:
    """`src/pkg/mod.py` -> `pkg.mod`; `pkg/__init__.py` -> `pkg`; notebooks keep their stem."""
    parts = rel[: rel.rfind(".")].split("/")
    if parts and parts[0] == "src" and len(parts) > 1:
        parts = parts[1:]
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(p.replace("-", "_").replace(" ", "_") for p in parts) or "__root__"


def package_of(sf_module: str, rel: str) -> str:
    """The package a module's relative imports start from."""
    return sf_module if rel.endswith("__init__.py") else sf_module.rpartition(".")[0]


def collect_aliases(tree: ast.Module, module: str, rel: str, text: str | None = None,
                    stars: list[str] | None = None) -> dict[str, str]:
    """Map every imported local name to what it names, once, so rules see `torch.randn` however spelled; the
    modules of `from m import *` go to `stars` when given (ProjectIndex.resolve looks there for project names).

    Given the source text, only the top-level statements whose lines spell `import` are searched (every
    import statement does): most of a file is not visited at all."""
    aliases: dict[str, str] = {}
    package = package_of(module, rel)
    for node in statements(_spelling_import(tree, text)):
        if isinstance(node, ast.Import):
            for a in node.names:
                if a.asname:
                    aliases[a.asname] = a.name
                else:
                    top = a.name.split(".")[0]
                    aliases.setdefault(top, top)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                pkg_parts = package.split(".") if package else []
                keep = len(pkg_parts) - (node.level - 1)
                prefix = ".".join(pkg_parts[: max(keep, 0)])
                base = ".".join(p for p in (prefix, base) if p)
            for a in node.names:
                if a.name == "*":
                    if stars is not None and base:
                        stars.append(base)
                    continue
                aliases[a.asname or a.name] = f"{base}.{a.name}" if base else a.name
    return aliases


def _spelling_import(tree: ast.Module, text: str | None) -> list[ast.stmt]:
    """Top-level statements whose lines hold the word `import` (all of them when the text is not plain ASCII
    with `\n` line breaks, where counting lines by `\n` would not match the parser's)."""
    if text is None or not text.isascii() or "\r" in text:
        return tree.body
    lines: list[int] = []
    line, last = 1, 0
    at = text.find("import")
    while at >= 0:
        line += text.count("\n", last, at)
        lines.append(line)
        last, at = at, text.find("import", at + 6)
    out: list[ast.stmt] = []
    i, n = 0, len(lines)
    for stmt in tree.body:  # statements and lines both ascend
        while i < n and lines[i] < stmt.lineno:
            i += 1
        if i == n:
            break  # past the last line that spells it
        if lines[i] <= (stmt.end_lineno or stmt.lineno):
            out.append(stmt)
    return out


_BLOCKS = ("body", "orelse", "finalbody", "handlers", "cases")
_BLOCKS_OF: dict[type, tuple[str, ...]] = {}


def block_fields(cls: type) -> tuple[str, ...]:
    """The fields of an AST class that hold statement blocks, in source order (`try`: body, handlers, orelse,
    finalbody), empty for simple statements; looked up once per class."""
    blocks = _BLOCKS_OF.get(cls)
    if blocks is None:
        blocks = _BLOCKS_OF[cls] = tuple(f for f in cls._fields if f in _BLOCKS)
    return blocks


def statements(body: list[ast.stmt]) -> list[ast.AST]:
    """Every statement, nested blocks and nested defs included, without descending into expressions.

    Imports are statements, so this finds them all at a fraction of a full walk; simple statements (most
    of a file) are not probed for blocks."""
    out: list[ast.AST] = []
    todo = list(reversed(body))
    while todo:
        node = todo.pop()
        out.append(node)
        for name in block_fields(node.__class__):
            children = getattr(node, name, None)
            if children:
                todo.extend(reversed(children))
    return out


def _decode(raw: bytes) -> tuple[str | None, str | None]:
    try:
        return raw.decode("utf-8-sig"), None
    except UnicodeDecodeError as exc:
        return None, f"not UTF-8 text (byte {exc.start}: {raw[exc.start:exc.start + 1]!r})"


def read_source(root: Path, rel: str, keep: Callable[[SourceFile], bool] | None = None) -> SourceFile:
    """Read and parse one file; every failure becomes a recorded error, never an exception. The tree is kept
    when `keep` (given the file, its text read) says so, or always without `keep`; else it is parsed again
    if a check asks for it."""
    sf = load_source(root, rel)
    if sf.error is None:
        parse_source(sf, keep is None or keep(sf))
    return sf


def load_source(root: Path, rel: str) -> SourceFile:
    """Read one file's text (a notebook's code cells joined), or record why it cannot be read."""
    is_nb = rel.endswith(".ipynb")
    sf = SourceFile(path=rel, module=module_name(rel), is_test=is_test_path(rel))
    try:
        # Plain os calls: pathlib's parsing cost 0.2 s per 10,000 files, a tenth of parsing them.
        with open(os.path.join(root, rel), "rb") as fh:
            if os.fstat(fh.fileno()).st_size > MAX_SOURCE_BYTES and not is_nb:
                sf.error = f"larger than {MAX_SOURCE_BYTES // 1_000_000} MB; not analysed"
                return sf
            raw = fh.read()
    except OSError as exc:
        sf.error = f"cannot read: {exc.strerror}"
        return sf
    text, err = _decode(raw)
    if text is None:
        sf.error = err
        return sf
    if is_nb:
        try:
            nb = read_notebook(text)
        except NotebookError as exc:
            sf.error = str(exc)
            return sf
        text, sf.notebook_map = nb.text, nb.line_map
    sf.text = text
    return sf


def parse_source(sf: SourceFile, keep: bool) -> None:
    """Parse a loaded file: record its imports and outline, or the error; keep the tree if told to, else record
    its facts (see FILE_FACTS) before the tree goes."""
    try:
        tree = ast.parse(sf.text, filename=sf.path)
    except SyntaxError as exc:
        sf.error = f"syntax error: {exc.msg}"
        sf.error_line = exc.lineno
        return
    except (ValueError, RecursionError, MemoryError) as exc:
        sf.error = f"cannot parse: {type(exc).__name__}"
        return
    stars: list[str] = []
    sf.aliases = collect_aliases(tree, sf.module, sf.path, sf.text, stars)
    sf.star_imports = tuple(stars)
    sf.outline = outline(sf, tree)
    sf.parsed = True
    if keep:
        sf._tree = tree
        return
    for name, fn in FILE_FACTS.items():
        try:
            sf.facts[name] = fn(sf, tree)
        except Exception:  # noqa: BLE001  left to SourceFile.fact, where a check's failure is reported as such
            pass
    # the tree is freed here, while its memory is still in the cache


def reparse(text: str, path: str) -> ast.Module:
    """Parse a file that parsed when it was read, from wherever a check asks. CPython's parser nests only as deep
    as the stack has room left: a deeply nested file that parsed at read time could fail deep inside a check,
    so the limit is raised by the depth of the stack here, giving the parse at least the room it had then."""
    try:
        return ast.parse(text, filename=path)
    except RecursionError:
        depth, frame = 0, sys._getframe()
        while frame is not None:
            depth, frame = depth + 1, frame.f_back
        limit = sys.getrecursionlimit()
        sys.setrecursionlimit(limit + depth)
        try:
            return ast.parse(text, filename=path)
        finally:
            sys.setrecursionlimit(limit)


_DEFS = (ast.FunctionDef, ast.AsyncFunctionDef)


def outline(sf: SourceFile, tree: ast.Module) -> tuple[Outline, ...]:
    """The top-level functions and classes of a parsed file, and each class's methods (see Outline)."""
    out: list[Outline] = []
    for at, node in enumerate(tree.body):
        if isinstance(node, _DEFS):
            out.append(Outline(node.name, at, first_line(node), node.end_lineno or node.lineno, None))
        elif isinstance(node, ast.ClassDef):
            methods = tuple(Outline(m.name, j, first_line(m), m.end_lineno or m.lineno, None)
                            for j, m in enumerate(node.body) if isinstance(m, _DEFS))
            bases = tuple(b for b in (sf.resolve(x) for x in node.bases) if b)
            out.append(Outline(node.name, at, first_line(node), node.end_lineno or node.lineno, bases, methods))
    return tuple(out)


def first_line(stmt: ast.stmt) -> int:
    """A statement's first line, its decorators included."""
    decorators = getattr(stmt, "decorator_list", None)
    return min(stmt.lineno, *(d.lineno for d in decorators)) if decorators else stmt.lineno
