"""Facts about the audited repository that claims are held against, gathered once and lazily."""

from __future__ import annotations

import ast
import fnmatch
import os
import re
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from trainaudit.claims.artefacts import Artefacts, LoggedSeries, ParamCount, RunEvidence
from trainaudit.claims.artefacts import collect as collect_run_evidence
from trainaudit.evidence.files import ProjectFiles, discover, is_test_path

__all__ = ["Artefacts", "LoggedSeries", "ParamCount", "RepoFacts", "Stub"]

UNREAD_MODEL_EXTS = (".h5", ".keras", ".onnx", ".tflite")
MAX_SCAN_BYTES = 1_000_000  # per file, when searching result files for a metric value
MAX_SCAN_FILES = 2_000
MAX_CACHED_CHARS = 50_000_000  # result files kept in memory between metric claims, so each is read once
_RESULT_EXTS = (".json", ".csv", ".tsv", ".log", ".txt", ".yaml", ".yml", ".jsonl")
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?")


@dataclass
class Stub:
    path: str
    line: int
    name: str
    why: str


class RepoFacts:
    """What claims are held against. Parameter counts, logged series and training artefacts may be given by the
    audit's collectors; whatever is not given is collected from the repository by the same collectors."""

    def __init__(self, root: Path, param_counts: list[ParamCount] | None = None,
                 series: list[LoggedSeries] | None = None, artefacts: Artefacts | None = None,
                 files: ProjectFiles | None = None) -> None:
        self.root = root
        self._given = (param_counts, series, artefacts)
        self._files = files  # the audit's walk of the same root, so it is not walked again
        self._result_lines: dict[str, list[str]] = {}
        self._cached_chars = 0

    @cached_property
    def project(self) -> ProjectFiles:
        return self._files if self._files is not None else discover(self.root)

    @cached_property
    def all_files(self) -> list[str]:
        return self.project.all

    @cached_property
    def dirs(self) -> set[str]:
        out = set()
        for f in self.all_files:
            parts = f.split("/")[:-1]
            for i in range(1, len(parts) + 1):
                out.add("/".join(parts[:i]))
        return out

    # -- files -------------------------------------------------------------------------------
    def find(self, ref: str, doc_dir: str = "") -> list[str]:
        """Files (or a directory) a reference may mean: exact, relative to the document, by suffix or name."""
        ref = ref.strip().lstrip("./") if not ref.startswith("../") else ref
        if ref.endswith("/"):
            d = ref.rstrip("/")
            cands = [d, f"{doc_dir}/{d}" if doc_dir else d]
            hits = [c for c in cands if c in self.dirs]
            return hits or [x for x in self.dirs if x.endswith("/" + d)]
        if any(ch in ref for ch in "*?["):
            return [f for f in self.all_files if fnmatch.fnmatch(f, ref) or fnmatch.fnmatch(f, f"*/{ref}")]
        cands = [ref, f"{doc_dir}/{ref}" if doc_dir else ref]
        files = set(self.all_files)
        hits = [c for c in cands if c in files]
        if hits:
            return hits[:1]
        if ref in self.dirs:
            return [ref]
        return [f for f in self.all_files if f.endswith("/" + ref)]

    def line_count(self, rel: str) -> int | None:
        try:
            with open(self.root / rel, "rb") as fh:
                data = fh.read(20_000_000)
        except OSError:
            return None
        return data.count(b"\n") + (0 if not data or data.endswith(b"\n") else 1)

    def size(self, rel: str) -> int | None:
        try:
            return (self.root / rel).stat().st_size
        except OSError:
            return None

    # -- python source -----------------------------------------------------------------------
    def tree(self, rel: str) -> ast.Module | None:
        return self._trees.get(rel) if rel in self._trees else self._parse(rel)

    @cached_property
    def _trees(self) -> dict[str, ast.Module | None]:
        return {}

    def _parse(self, rel: str) -> ast.Module | None:
        try:
            tree = ast.parse((self.root / rel).read_text(encoding="utf-8", errors="replace"))
        except (SyntaxError, ValueError, OSError):
            tree = None
        self._trees[rel] = tree
        return tree

    @cached_property
    def test_counts(self) -> dict[str, tuple[int, bool]]:
        """Per test file: (number of test functions found statically, whether some are parametrized)."""
        out = {}
        for rel in self.project.python:
            name = rel.rsplit("/", 1)[-1]
            if not (name.startswith("test_") or name.endswith("_test.py")):
                continue
            tree = self.tree(rel)
            if tree is None:
                continue
            n, param = 0, False
            for node in tree.body:
                fns = []
                if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    fns = [node]
                elif isinstance(node, ast.ClassDef) and node.name.startswith("Test"):
                    fns = [x for x in node.body if isinstance(x, (ast.FunctionDef, ast.AsyncFunctionDef))]
                for fn in fns:
                    if fn.name.startswith("test"):
                        n += 1
                        param |= any("parametrize" in ast.unparse(d) for d in fn.decorator_list)
            out[rel] = (n, param)
        return out

    def stubs(self, rel: str) -> list[Stub]:
        tree = self.tree(rel)
        return _stubs(rel, tree) if tree is not None else []

    @cached_property
    def definitions(self) -> dict[str, list[tuple[str, ast.AST]]]:
        out: dict[str, list[tuple[str, ast.AST]]] = {}
        for rel in self.project.python:
            tree = self.tree(rel)
            if tree is None:
                continue
            for node in ast.walk(tree):
                if isinstance(node, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
                    out.setdefault(node.name, []).append((rel, node))
        return out

    @cached_property
    def mocks(self) -> list[tuple[str, int, str]]:
        """Mocks and stand-ins in non-test code: unittest.mock, sys.modules patching, ImportError fallbacks."""
        found = []
        for rel in self.project.python:
            if is_test_path(rel):
                continue
            tree = self.tree(rel)
            if tree is None:
                continue
            for node in ast.walk(tree):
                if isinstance(node, ast.ImportFrom) and node.module and (
                        node.module == "mock" or node.module.startswith("unittest.mock")):
                    found.append((rel, node.lineno, f"from {node.module} import ..."))
                elif isinstance(node, ast.Import) and any(a.name in ("mock", "unittest.mock") for a in node.names):
                    found.append((rel, node.lineno, "import mock"))
                elif isinstance(node, ast.Assign) and any(
                        isinstance(t, ast.Subscript) and ast.unparse(t.value) == "sys.modules" for t in node.targets):
                    found.append((rel, node.lineno, f"{ast.unparse(node.targets[0])} = ..."))
                elif isinstance(node, ast.Try):
                    imported = {a.asname or a.name.split(".")[0] for s in node.body
                                if isinstance(s, (ast.Import, ast.ImportFrom)) for a in s.names}
                    for h in node.handlers:
                        if h.type is None or "ImportError" not in ast.unparse(h.type) and \
                                "ModuleNotFoundError" not in ast.unparse(h.type):
                            continue
                        for s in h.body:
                            names = {s.name} if isinstance(s, ast.ClassDef) else {
                                t.id for t in getattr(s, "targets", []) if isinstance(t, ast.Name)}
                            hit = names & imported
                            if hit:
                                found.append((rel, s.lineno, f"stand-in for {sorted(hit)[0]} when its import fails"))
        return found

    # -- training artefacts --------------------------------------------------------------------
    @cached_property
    def _collected(self) -> RunEvidence:
        return collect_run_evidence(self.root, self.project.other)

    @property
    def param_counts(self) -> list[ParamCount]:
        given = self._given[0]
        counts = given if given is not None else self._collected.param_counts
        return [p for p in counts if p.params >= 0]

    @property
    def series(self) -> list[LoggedSeries]:
        given = self._given[1]
        return given if given is not None else self._collected.series

    @property
    def artefacts(self) -> Artefacts:
        given = self._given[2]
        return given if given is not None else self._collected.artefacts

    @cached_property
    def unread_models(self) -> list[str]:
        """Saved models in formats the checkpoint collector does not read (Keras, ONNX): present, so still
        evidence of a training run, as they were before the collectors were consulted."""
        seen = {k.path for k in self.artefacts.checkpoints}
        return [f for f in self.all_files if f.lower().endswith(UNREAD_MODEL_EXTS) and f not in seen]

    # -- metric values -------------------------------------------------------------------------
    @cached_property
    def _result_files(self) -> list[str]:
        """Text logs and result files a metric value is searched in. Files the log readers turned into series are
        left to the series, which know which column a number belongs to."""
        read = {s.source for s in self.series}
        return [f for f in self.all_files if f.lower().endswith(_RESULT_EXTS) and not _is_doc(f)
                and f not in read][:MAX_SCAN_FILES]

    def _lines_of(self, rel: str) -> list[str] | None:
        """The first MAX_SCAN_BYTES of a result file, split into lines; kept (up to a budget) for the next claim."""
        if rel in self._result_lines:
            return self._result_lines[rel]
        try:
            with open(self.root / rel, encoding="utf-8", errors="replace") as fh:
                text = fh.read(MAX_SCAN_BYTES)
        except OSError:
            return None
        lines = text.splitlines()
        if self._cached_chars + len(text) <= MAX_CACHED_CHARS:
            self._cached_chars += len(text)
            self._result_lines[rel] = lines
        return lines

    def find_metric(self, names: tuple[str, ...], value: float, decimals: int, pct: bool) -> str | None:
        """A place in the repository's text logs or result files where the metric has this value."""
        wanted = [n.lower() for n in names]
        for rel in self._result_files:
            lines = self._lines_of(rel)
            if lines is None:
                continue
            header = lines[0].lower() if lines else ""
            for i, line in enumerate(lines, 1):
                low = line.lower()
                if not any(n in low for n in wanted) and not any(n in header for n in wanted):
                    continue
                for m in _NUMBER.finditer(line):
                    x = float(m.group(0))
                    for cand in (x, x * 100) if pct else (x,):
                        if round(cand, decimals) == round(value, decimals):
                            return f"{rel}:{i}"
        return None

    # -- running the tests ----------------------------------------------------------------------
    def run_pytest(self, timeout: float = 600.0) -> dict:
        with tempfile.TemporaryDirectory() as tmp:
            xml = os.path.join(tmp, "junit.xml")
            cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--tb=no",
                   "-o", "addopts=", f"--junitxml={xml}"]
            try:
                proc = subprocess.run(cmd, cwd=self.root, capture_output=True, text=True, timeout=timeout,
                                      stdin=subprocess.DEVNULL)
            except subprocess.TimeoutExpired:
                return {"error": f"pytest did not finish within {timeout:.0f} s", "command": " ".join(cmd[2:])}
            except OSError as exc:
                return {"error": f"cannot run pytest: {exc}"}
            result: dict = {"returncode": proc.returncode, "command": "pytest " + " ".join(cmd[4:-1]),
                            "tail": proc.stdout.strip().splitlines()[-1:] if proc.stdout.strip() else []}
            if not os.path.exists(xml):
                result["error"] = (proc.stderr.strip().splitlines() or ["pytest wrote no report"])[-1]
                return result
            per_file: dict[str, dict[str, int]] = {}
            for case in ET.parse(xml).iter("testcase"):
                f = case.get("file") or (case.get("classname", "").replace(".", "/") + ".py")
                status = "passed"
                for child in case:
                    if child.tag in ("failure", "error"):
                        status = "failed"
                    elif child.tag == "skipped":
                        status = "skipped"
                counts = per_file.setdefault(_test_file(f, self.test_counts), {"passed": 0, "failed": 0, "skipped": 0})
                counts[status] += 1
            result["files"] = per_file
            for key in ("passed", "failed", "skipped"):
                result[key] = sum(v[key] for v in per_file.values())
            return result


def _test_file(f: str, known: dict) -> str:
    """junit classnames are dotted and may include a class: map back to a known test file."""
    for rel in known:
        if f == rel or f.startswith(rel[:-3] + "/") or rel.endswith("/" + f):
            return rel
    return f


def _is_doc(rel: str) -> bool:
    return rel.lower().endswith((".md", ".markdown", ".rst"))


_CORE_METHODS = frozenset({"forward", "training_step", "validation_step", "fit", "train", "predict", "evaluate",
                           "__call__", "step", "compute", "encode", "decode", "__getitem__", "__len__", "load"})


def _is_stub_body(body: list[ast.stmt]) -> str | None:
    stmts = [s for s in body if not (isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant)
                                     and isinstance(s.value.value, str))]
    if len(stmts) == 1 and isinstance(stmts[0], ast.Raise) and stmts[0].exc is not None and \
            "NotImplementedError" in ast.unparse(stmts[0].exc):
        return "raises NotImplementedError"
    if not stmts or all(isinstance(s, ast.Pass) or (isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant)
                                                      and s.value.value is Ellipsis) for s in stmts):
        return "has an empty body (pass / ...)"
    return None


def _stubs(rel: str, tree: ast.Module) -> list[Stub]:
    out: list[Stub] = []

    def abstract(fn: ast.AST) -> bool:
        return any("abstract" in ast.unparse(d) or "overload" in ast.unparse(d)
                   for d in getattr(fn, "decorator_list", []))

    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and not abstract(node):
            why = _is_stub_body(node.body)
            if why:
                out.append(Stub(rel, node.lineno, node.name, why))
        elif isinstance(node, ast.ClassDef):
            bases = " ".join(ast.unparse(b) for b in node.bases)
            if re.search(r"Protocol|ABC|Exception|Error|Enum|TypedDict|NamedTuple", bases):
                continue
            if _is_stub_body(node.body):
                out.append(Stub(rel, node.lineno, node.name, "is an empty class"))
                continue
            for fn in node.body:
                if not isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)) or abstract(fn):
                    continue
                why = _is_stub_body(fn.body)
                if why and (why.startswith("raises") or fn.name in _CORE_METHODS):
                    out.append(Stub(rel, fn.lineno, f"{node.name}.{fn.name}", why))
    return out
