"""Rules about engineering shortcuts that make a run's results untrustworthy."""

from __future__ import annotations

import ast
import sys

from trainaudit.evidence.flow import arg_for
from trainaudit.evidence.index import ClassInfo, iter_scopes, scope_body, subtree, walk_scope
from trainaudit.evidence.source import SourceFile, walk
from trainaudit.finding import Severity
from trainaudit.rules.registry import Rule, check, register

MOCK_DEPENDENCY = register(
    Rule("TA401", "mock-dependency", "hygiene", Severity.ERROR,
         "A real dependency is replaced by a mock or stand-in outside the tests.",
         remedy="Install and use the real dependencies outside tests; keep mocks in the test suite.")
)
AMP_UNSAFE_CLIPPING = register(
    Rule("TA402", "amp-unsafe-clipping", "hygiene", Severity.WARNING,
         "Gradients are clipped while a GradScaler scales them, without unscale_ first.",
         remedy="Call scaler.unscale_(optimizer) before clipping gradients under a GradScaler.")
)
NON_ATOMIC_WRITE = register(
    Rule("TA403", "non-atomic-write", "hygiene", Severity.WARNING,
         "A result, metric or metadata file is written in place instead of temp file + os.replace.",
         remedy="Write result files to a temporary file and os.replace() it into place.")
)
SWALLOWED_FAILURE = register(
    Rule("TA404", "swallowed-failure", "hygiene", Severity.ERROR,
         "A failure around training is swallowed (bare except, except-pass) or an error path exits 0.",
         remedy="Let training failures surface: log and re-raise, and exit non-zero on error.")
)


# -- shared helpers ------------------------------------------------------------------------------------

def _dotted(sf: SourceFile, node: ast.AST) -> str:
    return (sf.resolve(node) or "") if isinstance(node, (ast.Name, ast.Attribute)) else ""


def _top_module(name: str) -> str:
    return name.split(".")[0]


# -- mock-dependency -----------------------------------------------------------------------------------

# Stand-ins for these change how output looks, not what is trained or measured. (A fallback for a standard-library
# name, `class ContextDecorator` where an old Python lacks it, replaces no dependency either.)
_COSMETIC = frozenset({"tqdm", "rich", "colorama", "termcolor", "tabulate", "coloredlogs", "ujson", "orjson",
                       "simplejson", "typing_extensions"})
_FAKE_FACTORIES = ("unittest.mock.", "mock.", "types.SimpleNamespace", "types.ModuleType")
# Modules that serve the tests from inside the package (transformers' testing_utils.py): mocks are their job. Only
# this rule leaves them out: elsewhere a `testing.py` may well be the script that evaluates the model.
_TEST_HELPERS = frozenset({"testing_utils.py", "test_utils.py", "testutils.py", "testing.py"})
_CATCH_IMPORT = frozenset({"ImportError", "ModuleNotFoundError", "Exception", "BaseException"})
# A finding needs a mock import (spelling `mock`), a write to `sys.modules` (whose last part is spelled in the
# write or in the import it resolves through) or an except handler: a file without these words has none.
_MOCK_WORDS = frozenset({"mock", "modules", "except"})


def _mock_import(sf: SourceFile, node: ast.Import | ast.ImportFrom, index) -> str | None:
    """`unittest.mock` (or the `mock` backport) imported by this statement, unless `mock` is a project module."""
    if isinstance(node, ast.Import):
        names = [a.name for a in node.names]
    elif node.level:
        return None
    else:
        base = node.module or ""
        names = [base] + [f"{base}.{a.name}" for a in node.names]
    for n in names:
        if n == "unittest.mock" or n.startswith("unittest.mock."):
            return "unittest.mock"
        if _top_module(n) == "mock" and "mock" not in index.by_module:
            return "mock"
    return None


def _module_names(sf: SourceFile) -> set[str]:
    """Names bound to real modules, loaded by importlib or read from `sys.modules`: registering those under
    another name (`sys.modules[name] = module`, a backward-compatible alias) is how loaders work."""
    out = set()
    for node in subtree(sf.tree):
        if isinstance(node, ast.Assign) and _is_real_module(sf, node.value):
            out.update(t.id for t in node.targets if isinstance(t, ast.Name))
    return out


def _is_real_module(sf: SourceFile, value: ast.AST | None) -> bool:
    """`importlib.import_module(...)`, `sys.modules[...]` or `sys.modules.get(...)`."""
    if isinstance(value, ast.Subscript):
        return _dotted(sf, value.value) == "sys.modules"
    if isinstance(value, ast.Call):
        name = _dotted(sf, value.func)
        return name.startswith("importlib.") or name == "sys.modules.get"
    return False


def _sys_modules_write(sf: SourceFile, node: ast.AST, loaded: set[str], own: set[str]) -> str | None:
    """The key written by `sys.modules[k] = v` / `.update()` / `.setdefault()`, unless v is a real loaded module
    or k a module of the project's own packages (`own`): a shim for a name it used to have, so that old pickles
    still load, replaces no dependency."""
    value: ast.AST | None = None
    key: ast.AST | None = None
    if isinstance(node, ast.Assign):
        subs = [t for t in node.targets if isinstance(t, ast.Subscript) and _dotted(sf, t.value) == "sys.modules"]
        if not subs:
            return None
        key, value = subs[0].slice, node.value
    elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in (
            "update", "setdefault", "__setitem__") and _dotted(sf, node.func.value) == "sys.modules":
        key = node.args[0] if node.args else None
        value = node.args[1] if len(node.args) > 1 else None
    else:
        return None
    if isinstance(key, ast.Name) and key.id == "__name__":
        return None  # a module replacing itself (lazy-loading packages), not a dependency
    if isinstance(key, ast.Constant) and isinstance(key.value, str) and _top_module(key.value) in own:
        return None
    if isinstance(value, ast.Name) and (value.id in loaded or value.id in sf.aliases
                                        and not sf.aliases[value.id].startswith(_FAKE_FACTORIES)):
        return None  # a real module (loaded by importlib, or imported) registered under another name
    if _is_real_module(sf, value):
        return None
    return repr(key.value) if isinstance(key, ast.Constant) else (ast.unparse(key) if key is not None else "…")


def _catches_import_error(sf: SourceFile, h: ast.ExceptHandler) -> bool:
    if h.type is None:
        return True
    types = h.type.elts if isinstance(h.type, ast.Tuple) else [h.type]
    return any(_dotted(sf, t).rsplit(".", 1)[-1] in _CATCH_IMPORT for t in types)


def _stand_ins(sf: SourceFile, node: ast.Try, index) -> tuple[list[str], list[tuple[str, int]]]:
    """(dependencies imported in the try, stand-ins the ImportError handlers define for them)."""
    imported: dict[str, str] = {}  # local name -> top-level module
    for stmt in walk_scope(node.body):
        if isinstance(stmt, ast.Import):
            for a in stmt.names:
                imported[a.asname or _top_module(a.name)] = _top_module(a.name)
        elif isinstance(stmt, ast.ImportFrom) and not stmt.level and stmt.module:
            for a in stmt.names:
                imported[a.asname or a.name] = _top_module(stmt.module)
    deps = sorted({m for m in imported.values()
                   if m not in _COSMETIC and m not in sys.stdlib_module_names and m not in index.by_module})
    if deps:  # a fallback for a name that one version of an installed package lacks is no stand-in
        deps = sorted(set(deps) - _present(sf, node))
    if not deps:
        return [], []
    found: list[tuple[str, int]] = []
    for h in node.handlers:
        if not _catches_import_error(sf, h) or any(isinstance(s, ast.Raise) for s in h.body):
            continue  # a handler that re-raises (with a better message) replaces nothing
        local_classes = {n.name for s in h.body for n in subtree(s) if isinstance(n, ast.ClassDef)}
        for s in h.body:
            for n in subtree(s):
                if isinstance(n, ast.ClassDef):
                    found.append((f"class {n.name}", n.lineno))
                elif isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)) and n.name in imported:
                    found.append((f"def {n.name}", n.lineno))
                elif isinstance(n, ast.Assign) and any(isinstance(t, ast.Name) and t.id in imported for t in n.targets):
                    if _is_fake_value(sf, n.value, local_classes, index):
                        names = ", ".join(t.id for t in n.targets if isinstance(t, ast.Name))
                        found.append((f"{names} = {ast.unparse(n.value)[:60]}", n.lineno))
    return deps, found


def _present(sf: SourceFile, node: ast.Try) -> set[str]:
    """Top-level modules this file must have to get past `node`: imported by its ImportError handlers, or by a
    statement of the file that no ImportError handler guards (`import torch` above
    `try: from torch._prims_common import f`)."""
    guarded = {id(n) for t in sf.nodes_of(ast.Try) if any(_catches_import_error(sf, h) for h in t.handlers)
               for s in t.body for n in walk(s)}
    inside = {id(n) for h in node.handlers if _catches_import_error(sf, h) for s in h.body for n in walk(s)}
    out = set()
    for s in sf.nodes_of(ast.Import, ast.ImportFrom):
        if id(s) in inside or id(s) not in guarded:
            names = [a.name for a in s.names] if isinstance(s, ast.Import) else [s.module or ""]
            out.update(_top_module(n) for n in names if n and not getattr(s, "level", 0))
    return out


def _is_fake_value(sf: SourceFile, value: ast.AST, local_classes: set[str], index) -> bool:
    """A lambda, a mock/namespace object, or a project class (or an instance of one) standing in for a module."""
    if isinstance(value, ast.Lambda):
        return True
    target = value.func if isinstance(value, ast.Call) else value
    if isinstance(target, ast.Name) and target.id in local_classes:
        return True
    if not isinstance(target, (ast.Name, ast.Attribute)):
        return False
    return _dotted(sf, target).startswith(_FAKE_FACTORIES) or isinstance(index.resolve(sf, target), ClassInfo)


@check("mock-dependency")
def _mock_dependency(ctx):
    index = ctx.source.index
    own: set[str] | None = None  # the project's top-level packages, found once a file needs them
    for sf in ctx.source.production_spelling(_MOCK_WORDS):
        if sf.path.rpartition("/")[2] in _TEST_HELPERS:
            continue
        loaded = _module_names(sf)
        own = own if own is not None else {_top_module(m) for m in index.by_module}
        imports, replaced = [], []
        for node in subtree(sf.tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)) and (mod := _mock_import(sf, node, index)):
                imports.append((mod, node.lineno))
            elif (key := _sys_modules_write(sf, node, loaded, own)) is not None:
                replaced.append((f"sys.modules[{key}] is replaced outside the tests: later imports get the "
                                 "stand-in, not the real module", node.lineno, {"module": key}))
            elif isinstance(node, ast.Try):
                deps, found = _stand_ins(sf, node, index)
                if found:
                    what = "; ".join(f for f, _ in found)
                    replaced.append((f"when {', '.join(deps)} cannot be imported, the except ImportError branch "
                                     f"defines a stand-in ({what}) instead of failing", found[0][1],
                                     {"dependencies": deps, "stand_ins": [f for f, _ in found],
                                      "try_line": node.lineno}))
        # A mock import that only builds a replacement reported above is part of that finding, not another one.
        for message, line, evidence in replaced:
            yield MOCK_DEPENDENCY.finding(message, sf.path, line,
                                          evidence={**evidence, "mock_imports": [n for _, n in imports]})
        if not replaced:
            for mod, line in imports:
                yield MOCK_DEPENDENCY.finding(
                    f"production code imports {mod}: mocks belong in tests, not in the code that trains",
                    sf.path, line, evidence={"import": mod})


# -- amp-unsafe-clipping ------------------------------------------------------------------------------

_CLIP = frozenset({"clip_grad_norm_", "clip_grad_value_", "clip_grad_norm"})


def _scaler_names(sf: SourceFile) -> set[str]:
    """Names and `self.<attr>`s bound to a GradScaler anywhere in the file."""
    out = set()
    for node in subtree(sf.tree):
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Call):
            if _dotted(sf, node.value.func).endswith("GradScaler"):
                for t in node.targets:
                    if isinstance(t, (ast.Name, ast.Attribute)):
                        out.add(t.id if isinstance(t, ast.Name) else t.attr)
    return out


def _is_scaling(call: ast.Call, scalers: set[str], backwarded: set[int]) -> bool:
    """`scaler.scale(loss)`: a GradScaler's scale, known by its binding, its name, or the backward() on it."""
    f = call.func
    if not (isinstance(f, ast.Attribute) and f.attr == "scale"):
        return False
    recv = f.value
    name = recv.id if isinstance(recv, ast.Name) else (recv.attr if isinstance(recv, ast.Attribute) else "")
    return name in scalers or "scaler" in name.lower() or id(call) in backwarded


@check("amp-unsafe-clipping")
def _amp_unsafe_clipping(ctx):
    index = ctx.source.index
    # A clip call's last name part is spelled in the call or in its import: a file without one has no finding.
    for sf in ctx.source.production_spelling(_CLIP):
        if ".scale(" not in sf.text:
            continue
        scalers = _scaler_names(sf)
        for fn in iter_scopes(index, sf):
            calls = [n for n in walk_scope(scope_body(sf, fn)) if isinstance(n, ast.Call)]
            backwarded = {id(c.func.value) for c in calls if isinstance(c.func, ast.Attribute)
                          and c.func.attr == "backward" and isinstance(c.func.value, ast.Call)}
            scaling = [c for c in calls if _is_scaling(c, scalers, backwarded)]
            if not scaling:
                continue
            unscales = [c.lineno for c in calls if isinstance(c.func, ast.Attribute) and c.func.attr == "unscale_"]
            for c in calls:
                dotted = _dotted(sf, c.func)
                name = dotted.rsplit(".", 1)[-1]
                if not (dotted.startswith("torch.nn.utils") and name in _CLIP):
                    continue
                if any(line < c.lineno for line in unscales):
                    continue
                yield AMP_UNSAFE_CLIPPING.finding(
                    f"{name} clips gradients that GradScaler has scaled ({ast.unparse(scaling[0])} at line "
                    f"{scaling[0].lineno}) with no scaler.unscale_(optimizer) before it: the threshold applies to "
                    "the scaled gradients", sf.path, c.lineno,
                    evidence={"clip": dotted, "scale_line": scaling[0].lineno, "unscale_lines": unscales})


# -- non-atomic-write ----------------------------------------------------------------------------------

_RESULT_WORDS = ("result", "metric", "score", "eval", "summary", "meta", "status", "stats", "report", "leaderboard",
                 "best", "final", "manifest", "hparam", "history", "benchmark", "trainer_state", "accuracy")
_STRUCTURED = (".json", ".yaml", ".yml", ".csv")
_DUMPS = frozenset({"json.dumps", "yaml.dump", "yaml.safe_dump", "yaml.dump_all"})
_DUMP_TO = {"json.dump": ("fp", 1), "yaml.dump": ("stream", 1), "yaml.safe_dump": ("stream", 1),
            "csv.writer": ("csvfile", 0), "csv.DictWriter": ("f", 0)}
_MOVES = frozenset({"os.replace", "os.rename", "shutil.move"})
# Every write `_Writes.target` reports calls a resolved name (or method) whose last part is one of these, and a
# resolved name's last part is spelled in the file (in the call or in its import): a file without them has none.
_WRITE_WORDS = frozenset({n.rsplit(".", 1)[-1] for n in (*_DUMPS, *_DUMP_TO)} | {"write_text", "to_csv", "to_json"})


def _opened_path(sf: SourceFile, call: ast.AST) -> ast.expr | None:
    """The path of `open(p, "w")` / `Path(p).open("w")` (write or create mode), else None."""
    if not isinstance(call, ast.Call):
        return None
    dotted = _dotted(sf, call.func)
    if dotted in ("open", "io.open", "builtins.open", "codecs.open"):
        path, mode = arg_for(call, "file", 0), arg_for(call, "mode", 1)
    elif isinstance(call.func, ast.Attribute) and call.func.attr == "open" and not dotted.startswith(("gzip", "tar")):
        path, mode = call.func.value, arg_for(call, "mode", 0)
    else:
        return None
    ok = isinstance(mode, ast.Constant) and isinstance(mode.value, str) and set(mode.value) & set("wx")
    return path if ok else None


class _Writes:
    """Structured-file writes of one scope, with the paths they go to and the temp files moved into place."""

    def __init__(self, sf: SourceFile, fn, stmts: list[ast.stmt]) -> None:
        self.sf, self.fn = sf, fn
        nodes = list(walk_scope(stmts))
        self.handles: dict[str, ast.expr] = {}  # file handle name -> opened path
        self.assigned: dict[str, list[ast.expr]] = {}
        self.moved: set[str] = set()  # unparsed sources of os.replace / Path.replace
        for n in nodes:
            if isinstance(n, ast.withitem) and isinstance(n.optional_vars, ast.Name):
                if (p := _opened_path(sf, n.context_expr)) is not None:
                    self.handles[n.optional_vars.id] = p
            elif isinstance(n, ast.Assign):
                for t in n.targets:
                    if isinstance(t, ast.Name):
                        self.assigned.setdefault(t.id, []).append(n.value)
                        if (p := _opened_path(sf, n.value)) is not None:
                            self.handles[t.id] = p
            elif isinstance(n, ast.Call):
                f = n.func
                if _dotted(sf, f) in _MOVES and n.args:
                    self.moved.add(ast.unparse(n.args[0]))
                elif isinstance(f, ast.Attribute) and f.attr in ("replace", "rename") and len(n.args) == 1:
                    self.moved.add(ast.unparse(f.value))
        self.calls = [n for n in nodes if isinstance(n, ast.Call)]

    def target(self, call: ast.Call) -> tuple[str, ast.expr] | None:
        """(writer, path expression) when the call writes JSON/YAML/CSV to a file path."""
        sf, f = self.sf, call.func
        dotted = _dotted(sf, f)
        if dotted in _DUMP_TO:
            return dotted, self._path_of(arg_for(call, *_DUMP_TO[dotted]))
        if not isinstance(f, ast.Attribute):
            return None
        first = call.args[0] if call.args else None
        dumps = isinstance(first, ast.Call) and _dotted(sf, first.func) in _DUMPS
        if f.attr == "write" and dumps:
            return f"{_dotted(sf, first.func)} + write", self._path_of(f.value)
        if f.attr == "write_text" and (dumps or _has_structured_ext(f.value)):
            return "write_text", f.value
        if f.attr in ("to_csv", "to_json") and (p := arg_for(call, "path_or_buf", 0)) is not None:
            return f".{f.attr}", self._path_of(p) or p
        return None

    def _path_of(self, handle: ast.expr | None) -> ast.expr | None:
        if isinstance(handle, ast.Name):
            return self.handles.get(handle.id)
        return _opened_path(self.sf, handle) if handle is not None else None

    def text(self, path: ast.expr) -> str:
        """The path expression and what its variables were assigned in this scope, lowercased."""
        parts = [ast.unparse(path)]
        names = [n.id for n in subtree(path) if isinstance(n, ast.Name)]
        for name in names:
            parts += [ast.unparse(v) for v in self.assigned.get(name, [])]
        return " ".join(parts).lower()

    def is_moved(self, path: ast.expr) -> bool:
        src = ast.unparse(path)
        return src in self.moved or (bool(self.moved) and any(w in src.lower() for w in ("tmp", "temp")))


def _has_structured_ext(expr: ast.AST) -> bool:
    return any(ext in ast.unparse(expr).lower() for ext in _STRUCTURED)


def _caller_paths(ctx, fn, path: ast.expr) -> list[tuple[str, int, str, str, bool]]:
    """For a path that is a parameter of `fn`, at each project call site:
    (file, line, argument, what the argument looks like, whether the caller moves it into place afterwards)."""
    if fn is None or not isinstance(path, ast.Name) or path.id not in fn.params:
        return []
    params = [p for p in fn.params if p not in ("self", "cls")] if fn.cls else fn.params
    out = []
    for site in ctx.source.index.call_sites.get(fn.qualname, []):
        arg = arg_for(site.node, path.id, params.index(path.id))
        if arg is not None:
            w = _Writes(site.file, site.caller, scope_body(site.file, site.caller))
            out.append((site.file.path, site.node.lineno, ast.unparse(arg), w.text(arg), w.is_moved(arg)))
    return out


@check("non-atomic-write")
def _non_atomic_write(ctx):
    index = ctx.source.index
    for sf in ctx.source.production_spelling(_WRITE_WORDS):
        for fn in iter_scopes(index, sf):
            w = _Writes(sf, fn, scope_body(sf, fn))
            for call in w.calls:
                hit = w.target(call)
                if hit is None or hit[1] is None or w.is_moved(hit[1]):
                    continue
                writer, path = hit
                sites = _caller_paths(ctx, fn, path)
                callers = [c for c in sites if not c[4]]
                if sites and not callers:
                    continue  # every caller writes a temp file and moves it into place
                texts = [w.text(path)] + [c[3] for c in callers]
                if not any(word in t for t in texts for word in _RESULT_WORDS):
                    continue
                via = "".join(f"; {p}:{line} passes {arg}" for p, line, arg, _, _ in callers[:3])
                yield NON_ATOMIC_WRITE.finding(
                    f"{ast.unparse(path)} is written in place ({writer}): a crash or a concurrent reader sees a "
                    f"truncated file; write a temp file and os.replace() it{via}", sf.path, call.lineno,
                    evidence={"writer": writer, "path": ast.unparse(path),
                              "callers": [f"{p}:{line}" for p, line, *_ in callers]})


# -- swallowed-failure ---------------------------------------------------------------------------------

_BROAD = frozenset({"Exception", "BaseException"})
_NOT_ERRORS = frozenset({"KeyboardInterrupt", "SystemExit", "GeneratorExit", "StopIteration"})
_EXITS = frozenset({"sys.exit", "exit", "quit", "os._exit", "builtins.exit"})
# A finding is about a try/except (spelling `except`) or a `contextlib.suppress` (its last part is spelled in
# the call or in its import).
_SWALLOW_WORDS = frozenset({"except", "suppress"})


def _caught(sf: SourceFile, h: ast.ExceptHandler) -> list[str]:
    if h.type is None:
        return []
    types = h.type.elts if isinstance(h.type, ast.Tuple) else [h.type]
    return [_dotted(sf, t).rsplit(".", 1)[-1] or ast.unparse(t) for t in types]


def _exit_code(sf: SourceFile, node: ast.AST) -> int | None:
    """0 for `sys.exit()`/`sys.exit(0)`/`raise SystemExit`, 1 for any other exit code, None if not an exit."""
    if isinstance(node, ast.Raise):
        call = node.exc if isinstance(node.exc, ast.Call) else None
        raised = call.func if call is not None else node.exc
        if raised is None or _dotted(sf, raised) != "SystemExit":
            return None
        args = call.args if call is not None else []
    elif isinstance(node, ast.Call) and _dotted(sf, node.func) in _EXITS:
        args = node.args
    else:
        return None
    if not args or (isinstance(args[0], ast.Constant) and args[0].value in (0, None, False)):
        return 0
    return 1


def _handler_outcome(sf: SourceFile, h: ast.ExceptHandler) -> str | None:
    """How a handler ends a failure: "raises", "exits non-zero", "exits 0", or None when it carries on."""
    outcome = None
    for n in walk_scope(h.body):
        code = _exit_code(sf, n)
        if code == 0:
            outcome = outcome or "exits 0"
        elif code is not None:
            return "exits non-zero"
        elif isinstance(n, ast.Raise):
            return "raises"
        elif isinstance(n, ast.Return) and isinstance(n.value, ast.Constant) and n.value.value not in (0, None, False):
            return "exits non-zero"  # `return 1` from main(), handed to sys.exit()
    return outcome


def _training_in(sf: SourceFile, fn, body: list[ast.stmt], marks: set[int], run) -> str | None:
    """A short description of the first training step, loop or training function the statements run (as the
    training path sees them: a backward that only times a layer or reads an input's gradient trains nothing)."""
    for n in walk_scope(body):
        if id(n) in marks:
            return ast.unparse(n.func) + "()" if isinstance(n, ast.Call) else f"the training loop at line {n.lineno}"
        if isinstance(n, ast.Call):
            for t in run.targets(sf, fn, n):
                if t.qualname in run.drivers:
                    return f"{t.qualname}(), which runs training"
    return None


@check("swallowed-failure")
def _swallowed_failure(ctx):
    program = ctx.source
    files = program.production_spelling(_SWALLOW_WORDS)
    if not files:
        return
    marks = {id(c) for loop in program.training.loops for c in (*loop.backward, *loop.steps)}
    marks |= {id(loop.node) for loop in program.training.loops if loop.kind in ("loop", "fit")}
    for sf in files:
        owner = program.index.owner_of(sf)
        for node in subtree(sf.tree):
            if isinstance(node, (ast.With, ast.AsyncWith)):
                suppressed = [i.context_expr for i in node.items if isinstance(i.context_expr, ast.Call)
                              and _dotted(sf, i.context_expr.func) == "contextlib.suppress"
                              and any(_dotted(sf, a).rsplit(".", 1)[-1] in _BROAD for a in i.context_expr.args)]
                what = suppressed and _training_in(sf, owner.get(id(node)), node.body, marks, program.run_path)
                if what:
                    yield SWALLOWED_FAILURE.finding(
                        f"{ast.unparse(suppressed[0])} around training ({what}) discards every failure; "
                        "the run ends with exit status 0 as if it had trained", sf.path, node.lineno,
                        evidence={"training": what, "handler": ast.unparse(suppressed[0])})
            if not isinstance(node, ast.Try) or not node.handlers:
                continue
            what = _training_in(sf, owner.get(id(node)), node.body, marks, program.run_path)
            if what is None:
                continue
            for h in node.handlers:
                caught = _caught(sf, h)
                outcome = _handler_outcome(sf, h)
                broad = not caught or bool(_BROAD & set(caught))
                label = f"except {', '.join(caught)}" if caught else "bare except"
                if outcome == "exits 0" and (not caught or not set(caught) <= _NOT_ERRORS):
                    msg = f"{label} around training ({what}) exits with status 0: the failed run looks successful"
                elif broad and outcome is None:
                    msg = (f"{label} around training ({what}) neither re-raises nor exits non-zero: a failed "
                           "run carries on and ends with status 0")
                else:
                    continue
                yield SWALLOWED_FAILURE.finding(msg, sf.path, h.lineno,
                                                evidence={"training": what, "caught": caught or ["*"],
                                                          "outcome": outcome or "continues"})
