"""Find log files (the spec's `logs` globs, else discovery by name and shape) and read each with its reader."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from pathlib import Path

from trainaudit.evidence.logs import csvlogger, hf_trainer, mlflow_store, plain, tfevents, wandb_offline
from trainaudit.evidence.logs.series import LogEvidence, LogFile, Problem

_SQLITE_SUFFIXES = (".db", ".sqlite", ".sqlite3")
_CHECKPOINT_DIR = re.compile(r"checkpoint-\d+$")


def classify(root: Path, rel: str) -> str | None:
    """The log format of one file, judged by its name and (cheaply) its first bytes; None if not a log."""
    name = rel.rsplit("/", 1)[-1]
    if tfevents.is_event_file(name):
        return tfevents.FORMAT
    if wandb_offline.is_wandb_log(name):
        return wandb_offline.FORMAT
    if name == "wandb-summary.json":
        return wandb_offline.SUMMARY_FORMAT
    if name == "trainer_state.json":
        return hf_trainer.FORMAT
    if mlflow_store.metric_key(rel) and (root / mlflow_store.run_dir_of(rel) / "meta.yaml").is_file():
        return mlflow_store.FILE_FORMAT
    if name.endswith(_SQLITE_SUFFIXES) and mlflow_store.is_sqlite(root / rel):
        return mlflow_store.SQLITE_FORMAT
    if name == "metrics.csv" and csvlogger.is_lightning_csv(rel, _head(root / rel)):
        return csvlogger.FORMAT
    return plain.candidate(rel)


_READERS: dict[str, Callable[[Path, str], LogFile | None]] = {
    tfevents.FORMAT: tfevents.read_tfevents,
    wandb_offline.FORMAT: wandb_offline.read_wandb,
    wandb_offline.SUMMARY_FORMAT: wandb_offline.read_wandb_summary,
    hf_trainer.FORMAT: hf_trainer.read_trainer_state,
    mlflow_store.FILE_FORMAT: mlflow_store.read_mlflow_metric,
    mlflow_store.SQLITE_FORMAT: mlflow_store.read_mlflow_sqlite,
    csvlogger.FORMAT: csvlogger.read_lightning_csv,
}


def read_log(root: Path, rel: str, fmt: str) -> LogFile | None:
    """Read one file; None when a shape-checked format turns out not to be a log after all."""
    reader = _READERS.get(fmt)
    return reader(root / rel, rel) if reader else plain.read_plain(root / rel, rel, fmt)


def unrecognised(rel: str) -> LogFile:
    """The entry for a file named explicitly (spec glob, command line) that is no known log."""
    return LogFile(rel, "unknown", problems=[Problem("unrecognised", "not a training log in a known format")])


def collect(root: Path, candidates: Iterable[str], globs: tuple[str, ...] = ()) -> LogEvidence:
    """Read every log among the candidate files (root-relative POSIX paths), or those the globs name."""
    evidence = LogEvidence(from_spec=bool(globs))
    if globs:
        named, evidence.unmatched_globs, exact = match_globs(root, globs)
        paths = sorted(named)
    else:
        paths, exact = sorted(candidates), set()
    chosen = [(rel, classify(root, rel)) for rel in paths]
    keep = _latest_trainer_states(root, [rel for rel, fmt in chosen if fmt == hf_trainer.FORMAT])
    for rel, fmt in chosen:
        if fmt == hf_trainer.FORMAT and rel not in keep:
            continue
        log = read_log(root, rel, fmt) if fmt else None
        if log is None and rel in exact:  # the spec named this very file: say why it gave nothing
            log = unrecognised(rel)
        if log is not None:
            evidence.files.append(log)
    return evidence


def match_globs(root: Path, globs: tuple[str, ...]) -> tuple[set[str], list[str], set[str]]:
    """(files matched, globs that matched nothing, files named exactly). A directory means all under it."""
    found: set[str] = set()
    exact: set[str] = set()
    unmatched: list[str] = []
    real_root = root.resolve()
    for pattern in globs:
        hits: set[str] = set()
        clean = pattern.strip().removeprefix("./")
        try:
            matches = list(root.glob(clean)) if clean and not Path(clean).is_absolute() else []
        except (ValueError, OSError):
            matches = []
        for match in matches:
            for f in ([match] if match.is_file() else sorted(match.rglob("*")) if match.is_dir() else []):
                if f.is_file() and _inside(f, real_root):
                    hits.add(f.relative_to(root).as_posix())
        if not hits:
            unmatched.append(pattern)
        if not any(ch in clean for ch in "*?[") and (root / clean).is_file():
            exact |= hits
        found |= hits
    return found, unmatched, exact


def _inside(path: Path, real_root: Path) -> bool:
    try:
        path.resolve().relative_to(real_root)
        return True
    except (ValueError, OSError):
        return False


def _latest_trainer_states(root: Path, rels: list[str]) -> set[str]:
    """The Trainer copies its state into every checkpoint-N; keep the longest copy per output dir."""
    best: dict[str, tuple[int, str]] = {}
    for rel in rels:
        parts = rel.split("/")
        owner = "/".join(parts[:-2] if len(parts) >= 2 and _CHECKPOINT_DIR.match(parts[-2]) else parts[:-1])
        try:
            size = (root / rel).stat().st_size
        except OSError:
            size = -1
        if owner not in best or (size, rel) > best[owner]:
            best[owner] = (size, rel)
    return {rel for _size, rel in best.values()}


def _head(path: Path, size: int = 4096) -> str:
    try:
        with path.open("rb") as fh:
            return fh.read(size).decode("utf-8", "replace")
    except OSError:
        return ""
