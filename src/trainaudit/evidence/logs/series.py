"""The values every log reader yields: scalar series, per-file results and the collected evidence."""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Series:
    """Every point of one scalar tag as written to one file, in file order."""

    tag: str
    source: str  # root-relative POSIX path of the file the points came from
    steps: list[int] = field(default_factory=list)
    values: list[float] = field(default_factory=list)
    wall_times: list[float] = field(default_factory=list)  # empty when the format records none
    run: str | None = None  # run id when one file holds several runs (MLflow SQLite)

    def add(self, step: int, value: float, wall_time: float | None = None) -> None:
        self.steps.append(step)
        self.values.append(value)
        if wall_time is not None:
            self.wall_times.append(wall_time)

    @property
    def name(self) -> str:
        """The tag, qualified by the run when a file holds several runs."""
        return f"{self.tag} [run {self.run}]" if self.run else self.tag

    def __len__(self) -> int:
        return len(self.values)

    def non_finite_count(self) -> int:
        return sum(1 for v in self.values if not math.isfinite(v))

    def first_non_finite(self) -> tuple[int, int, float] | None:
        """(index, step, value) of the first NaN or infinite point, if any."""
        for i, v in enumerate(self.values):
            if not math.isfinite(v):
                return i, self.steps[i], v
        return None


@dataclass(frozen=True)
class Problem:
    """Something a reader could not read; the rest of the file is still used."""

    kind: str  # corrupt-record | truncated | unreadable | unrecognised
    message: str
    offset: int | None = None  # byte offset (binary formats) or 1-based line (text formats)


@dataclass
class LogFile:
    """What one log file yielded."""

    path: str  # root-relative POSIX path
    format: str  # tfevents | lightning-csv | mlflow-file | mlflow-sqlite | hf-trainer | wandb | wandb-summary | ...
    series: list[Series] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    records: int = 0  # records/rows/lines read, scalar or not
    hparams: dict[str, Any] | None = None
    summary: dict[str, Any] | None = None

    @property
    def points(self) -> int:
        return sum(len(s) for s in self.series)


@dataclass
class LogEvidence:
    """Every log file found, by spec globs or by discovery."""

    files: list[LogFile] = field(default_factory=list)
    from_spec: bool = False  # the files were named by the spec's logs globs
    unmatched_globs: list[str] = field(default_factory=list)

    def all_series(self) -> Iterator[Series]:
        for f in self.files:
            yield from f.series

    @property
    def points(self) -> int:
        return sum(f.points for f in self.files)

    def file(self, path: str) -> LogFile | None:
        return next((f for f in self.files if f.path == path), None)
