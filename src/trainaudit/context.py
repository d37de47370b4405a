"""The audit context: the project root, its spec, and evidence collected lazily, once, by kind."""

from __future__ import annotations

from collections.abc import Callable
from functools import cached_property
from pathlib import Path
from typing import Any

from trainaudit.evidence.files import ProjectFiles, discover
from trainaudit.spec import Spec

Provider = Callable[["AuditContext"], Any]
_PROVIDERS: dict[str, Provider] = {}


def provider(kind: str) -> Callable[[Provider], Provider]:
    """Register the collector of one kind of evidence (source, logs, checkpoints, claims, trace, ...)."""

    def deco(fn: Provider) -> Provider:
        _PROVIDERS[kind] = fn
        return fn

    return deco


class AuditContext:
    """What rules see. Collectors fill it on first use; rules never open files themselves."""

    def __init__(self, root: Path, spec: Spec, progress: Callable[[str], None] | None = None,
                 jobs: int | None = None) -> None:
        self.root = root
        self.spec = spec
        self.progress = progress or (lambda _msg: None)
        self.jobs = jobs  # processes the audit may use (None: one per available CPU)
        self._cache: dict[str, Any] = {}
        self.inferred: list[str] = []  # what was inferred for lack of a spec, said in the report
        self.gaps: list[str] = []  # required evidence that is absent: makes the verdict inconclusive
        # Extra tables for the report (e.g. "claims", "series"), filled by collectors, JSON-serialisable.
        self.report_sections: dict[str, Any] = {}

    @cached_property
    def files(self) -> ProjectFiles:
        return discover(self.root)

    def get(self, kind: str) -> Any:
        if kind not in self._cache:
            from trainaudit import evidence_providers  # noqa: F401  (registers the collectors)

            self._cache[kind] = _PROVIDERS[kind](self)
        return self._cache[kind]

    def close(self) -> None:
        """Release the evidence when the audit is done: each kind that holds reference cycles breaks them in its
        own `close`, so memory returns at once rather than at the next full collection."""
        for evidence in self._cache.values():
            close = getattr(evidence, "close", None)
            if callable(close):
                close()
        self._cache.clear()

    # Typed shortcuts for the evidence every static rule uses.
    @property
    def source(self):  # -> trainaudit.evidence.program.Program
        return self.get("source")
