"""The `source` evidence: every parsed file, the project index, provenance and the training path."""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable
from functools import cached_property

from trainaudit.context import AuditContext, provider
from trainaudit.evidence.flow import Flow
from trainaudit.evidence.index import ClassInfo, FunctionInfo, ProjectIndex, clear_walk_caches
from trainaudit.evidence.parallel import parse_files
from trainaudit.evidence.run_path import RunPath
from trainaudit.evidence.source import SourceFile, load_source, package_of
from trainaudit.evidence.training import OPTIMIZER_NAMES, TrainingPath
from trainaudit.gcpause import gc_paused
from trainaudit.spec import Spec


class Program:
    """The project's code as facts; built lazily so rules that need little pay little."""

    def __init__(self, files: list[SourceFile], spec: Spec) -> None:
        self.files = files
        self.spec = spec
        self.by_path = {f.path: f for f in files}

    # The file list never changes: each view is built once (callers must not change them).
    @cached_property
    def parsed(self) -> list[SourceFile]:
        return [f for f in self.files if f.parsed]

    @cached_property
    def failed(self) -> list[SourceFile]:
        return [f for f in self.files if not f.parsed]

    @cached_property
    def production(self) -> list[SourceFile]:
        """Parsed files that are not tests."""
        return [f for f in self.parsed if not f.is_test]

    def production_spelling(self, words: frozenset[str]) -> list[SourceFile]:
        """Production files whose words include any of `words` (identifiers as Python reads them): the files a
        check that needs one of these names can find anything in. None is looked at when no file has any."""
        if words.isdisjoint(self.index.all_words):
            return []
        return [sf for sf in self.production if not words.isdisjoint(sf.words)]

    def close(self) -> None:
        """The audit is over: let its trees go (see ProjectIndex.close), with the walks cached over them."""
        if "index" in self.__dict__:
            self.index.close()
        clear_walk_caches()

    @cached_property
    def index(self) -> ProjectIndex:
        return ProjectIndex(self.files)

    @cached_property
    def flow(self) -> Flow:
        return Flow(self.index, self.spec)

    @cached_property
    def training(self) -> TrainingPath:
        return TrainingPath(self.production, self.index, self.flow)

    @cached_property
    def run_path(self) -> RunPath:
        """What a training run executes (from the entry files, loops and spec classes) and what drives training."""
        return RunPath(self.production, self.index, self.flow, self.training, self.entry_files,
                       self.spec_definitions)

    @cached_property
    def spec_definitions(self) -> list[ClassInfo | FunctionInfo]:
        """The project classes or functions the spec's `model` and `data` name."""
        out: list[ClassInfo | FunctionInfo] = []
        for name in (self.spec.model, self.spec.data):
            if not name:
                continue
            dotted = name.replace(":", ".")
            hit = self.index.lookup(dotted)
            classes = self.index.class_named(dotted)
            funcs = [f for f in self.index.functions.values() if f.cls is None and f.name == dotted.rsplit(".", 1)[-1]]
            out.extend([hit] if hit is not None else classes or funcs)
        return out

    @cached_property
    def entry_files(self) -> list[SourceFile]:
        """Training entry points: the spec's globs, else files where training happens."""
        if self.spec.entrypoints:
            return [f for f in self.parsed if any(fnmatch.fnmatch(f.path, g) for g in self.spec.entrypoints)]
        return self.training.entry_files


@provider("source")
def collect_source(ctx: AuditContext) -> Program:
    paths = sorted(ctx.files.python + ctx.files.notebooks)
    # Retained AST nodes make the cyclic GC rescan an ever-growing heap: parsing 1,000 files took 1.30 s
    # with it and 0.46 s without. `trainaudit.audit` pauses it for the whole audit; other callers get it back
    # after parsing, and collections then walk the trees.
    with gc_paused():
        files = []
        for i, rel in enumerate(paths):
            if i % 2000 == 0:
                ctx.progress(f"reading source files {i}/{len(paths)}")
            files.append(load_source(ctx.root, rel))
        parse_files(files, likely_read(files), ctx.jobs, ctx.progress)
    return Program(files, ctx.spec)


# Words of training code, for the guess alone: the file's words are computed for the index anyway, where searching
# its text for each of TRAINING_WORDS cost 0.13 s per 10,000 files. Not `train`, which names every loader's split.
_TRAINING_TOKENS = frozenset({"backward", "step", "fit", "optim", "scaler", "Scaler", "SCALER", *OPTIMIZER_NAMES})
# An import statement as the text spells it: `from (dots)(module) import (names)` or `import (modules)`.
_IMPORT = re.compile(r"^[ \t]*(?:from[ \t]+(\.*)([\w.]*)[ \t]+import[ \t]+(\([^)]*\)|[^\n#;]*)|import[ \t]+([^\n#;]+))",
                     re.MULTILINE)


def likely_read(files: list[SourceFile]) -> Callable[[SourceFile], bool]:
    """Which files' trees the checks will probably read, so they are kept from the first parse: the files that
    spell a training word, and the project modules they import (through packages' `__init__` re-exports), where
    the models, datasets and helpers a training script uses live. Others (unused models, configs, tests) are
    parsed again only if a check reaches them; what checks need of every file comes from its facts (see
    source.FILE_FACTS). A wrong guess costs time, never a finding. Judged from the texts alone, before parsing,
    so the others can be parsed elsewhere (see parallel)."""
    by_module = {sf.module: sf for sf in files if sf.error is None}
    todo = [sf for sf in by_module.values() if not _TRAINING_TOKENS.isdisjoint(sf.words)]
    keep = {id(sf) for sf in todo}
    while todo:
        sf = todo.pop()
        for module in _imported_modules(sf):
            got = by_module.get(module)
            if got is not None and id(got) not in keep:
                keep.add(id(got))
                if got.path.endswith("__init__.py"):
                    todo.append(got)
    return lambda sf: id(sf) in keep


def _imported_modules(sf: SourceFile) -> set[str]:
    """The modules a file's import statements may name, as the index would look them up (see ProjectIndex.lookup):
    as written, without a leading `src.`, and under each package enclosing the file (scripts importing siblings)."""
    package = package_of(sf.module, sf.path)
    relative: set[str] = set()
    absolute: set[str] = set()
    for m in _IMPORT.finditer(sf.text):
        dots, base, imported, modules = m.groups()
        if modules is not None:
            absolute.update(part.split()[0] for part in modules.split(",") if part.split())
            continue
        names = relative if dots else absolute
        if dots:
            parts = package.split(".") if package else []
            keep = len(parts) - (len(dots) - 1)
            base = ".".join(p for p in (".".join(parts[:max(keep, 0)]), base) if p)
        if base:
            names.add(base)
        for part in imported.strip("()\\").split(","):
            words = part.split()
            if words and words[0] != "*":
                names.add(f"{base}.{words[0]}" if base else words[0])
    out = relative | absolute
    for name in absolute:
        if name.startswith("src."):
            out.add(name[4:])
        pkg = package
        while pkg:
            out.add(f"{pkg}.{name}")
            pkg = pkg.rpartition(".")[0]
    return out
