"""What a project's training left behind, as the claims checker holds claims against it.

Inside the audit these records are built from the `logs`, `checkpoints` and `trace` evidence the other
collectors already gathered; for `trainaudit claims --repo` the same collectors are run on the repository, so
both paths read logs and checkpoints with one set of readers and see the same facts.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from trainaudit.evidence.checkpoints.provider import CheckpointEvidence
    from trainaudit.evidence.logs.series import LogEvidence
    from trainaudit.evidence.trace import TraceEvidence
    from trainaudit.tracer.trace import Trace


@dataclass(frozen=True)
class ParamCount:
    """A parameter count read from a checkpoint or a run trace."""

    source: str
    params: int


@dataclass(frozen=True)
class LoggedSeries:
    """One logged scalar series: its tag, the file it came from, its points in file order."""

    tag: str
    source: str
    values: tuple[float, ...]
    steps: tuple[int, ...] = ()

    def step(self, i: int) -> int:
        return self.steps[i] if i < len(self.steps) else i

    @cached_property
    def ordered(self) -> list[float]:
        """The finite values, sorted: many claims may ask one long series whether it holds a value."""
        return sorted(v for v in self.values if math.isfinite(v))


@dataclass(frozen=True)
class CheckpointFile:
    """A checkpoint found in the project, and whether its reader could make sense of it."""

    path: str
    readable: bool
    problem: str | None = None


@dataclass(frozen=True)
class LogSource:
    """A training log found in the project, and how many scalar points it held."""

    path: str
    format: str
    points: int
    records: int = 0


@dataclass
class Artefacts:
    """Checkpoints and training logs found, readable or not: what a "training complete" claim is held against."""

    checkpoints: list[CheckpointFile] = field(default_factory=list)
    logs: list[LogSource] = field(default_factory=list)


@dataclass
class RunEvidence:
    """Everything the claims checker takes from the training evidence."""

    param_counts: list[ParamCount] = field(default_factory=list)
    series: list[LoggedSeries] = field(default_factory=list)
    artefacts: Artefacts = field(default_factory=Artefacts)


def trace_param_counts(trace: Trace) -> list[ParamCount]:
    """Parameter counts of the traced run's root modules and project classes ("run trace: pkg.Model")."""
    out: list[ParamCount] = []
    for m in trace.modules:
        if (m.parent is None or m.project) and m.params > 0:
            pc = ParamCount(f"run trace: {m.cls}", m.params)
            if pc not in out:
                out.append(pc)
    return out


def from_evidence(logs: LogEvidence | None, checkpoints: CheckpointEvidence | None,
                  trace: TraceEvidence | None) -> RunEvidence:
    """The claims checker's view of the audit's evidence."""
    out = RunEvidence()
    if checkpoints is not None:
        for c in checkpoints.checkpoints:
            out.artefacts.checkpoints.append(
                CheckpointFile(c.path, c.readable, None if c.readable else "; ".join(c.problems[:1]) or None))
            n = c.parameter_count if c.readable else 0
            if n > 0:
                out.param_counts.append(ParamCount(c.path, n))
    if trace is not None and trace.trace is not None:
        out.param_counts += trace_param_counts(trace.trace)
    if logs is not None:
        for f in logs.files:
            out.artefacts.logs.append(LogSource(f.path, f.format, f.points, f.records))
            for s in f.series:
                if len(s):
                    out.series.append(LoggedSeries(s.name, s.source, tuple(s.values), tuple(s.steps)))
    return out


def collect(root: Path, files: list[str]) -> RunEvidence:
    """Run the logs and checkpoints collectors (and read the run trace) on a repository outside the audit."""
    # Imported here: the collectors and their readers are only needed when a claim asks for them.
    from trainaudit.evidence.checkpoints.provider import CheckpointEvidence, find_checkpoints
    from trainaudit.evidence.checkpoints.reader import read_checkpoint
    from trainaudit.evidence.logs.discover import collect as collect_logs
    from trainaudit.evidence.trace import TraceEvidence
    from trainaudit.tracer.trace import TRACE_DIR, TRACE_FILE, TraceError, read_trace

    logs = collect_logs(root, files)
    paths, _ = find_checkpoints(root, files)
    checkpoints = CheckpointEvidence([read_checkpoint(root / rel, rel) for rel in paths])
    trace = None
    path = root / TRACE_DIR / TRACE_FILE
    if path.is_file():
        try:
            trace = TraceEvidence(f"{TRACE_DIR}/{TRACE_FILE}", trace=read_trace(path))
        except TraceError:
            trace = None  # an unusable trace gives no counts; the audit's trace rule says why
    return from_evidence(logs, checkpoints, trace)

