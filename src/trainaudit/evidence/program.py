"""The `source` evidence: every parsed file, the project index, provenance and the training path."""

from __future__ import annotations

import fnmatch
from functools import cached_property

from trainaudit.context import AuditContext, provider
from trainaudit.evidence.flow import Flow
from trainaudit.evidence.index import ProjectIndex
from trainaudit.evidence.source import SourceFile, read_source
from trainaudit.evidence.training import TrainingPath
from trainaudit.spec import Spec


class Program:
    """The project's code as facts; built lazily so rules that need little pay little."""

    def __init__(self, files: list[SourceFile], spec: Spec) -> None:
        self.files = files
        self.spec = spec
        self.by_path = {f.path: f for f in files}

    @property
    def parsed(self) -> list[SourceFile]:
        return [f for f in self.files if f.tree is not None]

    @property
    def failed(self) -> list[SourceFile]:
        return [f for f in self.files if f.tree is None]

    @property
    def production(self) -> list[SourceFile]:
        """Parsed files that are not tests."""
        return [f for f in self.parsed if not f.is_test]

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
    def entry_files(self) -> list[SourceFile]:
        """Training entry points: the spec's globs, else files where training happens."""
        if self.spec.entrypoints:
            return [f for f in self.parsed if any(fnmatch.fnmatch(f.path, g) for g in self.spec.entrypoints)]
        return self.training.entry_files


@provider("source")
def collect_source(ctx: AuditContext) -> Program:
    paths = sorted(ctx.files.python + ctx.files.notebooks)
    files = []
    for i, rel in enumerate(paths):
        if i % 500 == 0:
            ctx.progress(f"parsing source files {i}/{len(paths)}")
        files.append(read_source(ctx.root, rel))
    return Program(files, ctx.spec)
