"""Parsing a project's files over several processes: this one parses what it keeps, forked workers the rest."""

from __future__ import annotations

import multiprocessing
import os
import sys
import threading
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor

from trainaudit.evidence.source import Outline, SourceFile, parse_source

# Below this many files a worker's start and its results' transfer cost more than parsing them here: forking one
# took ~10 ms on the benchmark machine, parsing 500 files of 100 lines ~0.1 s.
MIN_FILES_PER_WORKER = 500
MAX_WORKERS = 8

# What a worker learns of a file: parsed, error, error_line, aliases, star_imports, outline, facts.
_Parsed = tuple[bool, "str | None", "int | None", dict[str, str], tuple[str, ...], tuple[Outline, ...],
                dict[str, object]]

# The files handed to workers. A forked worker reads them from the memory it inherits, so their texts are never
# pickled; only what each parse found comes back.
_SHARED: list[SourceFile] = []


def available_cpus() -> int:
    """CPUs this process may run on (its affinity, as a container or `taskset` sets it), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # not Linux
        return max(1, os.cpu_count() or 1)


def worker_count(jobs: int | None, files: int) -> int:
    """Workers to fork for `files` files when `jobs` processes may run (None: one per available CPU).

    None where forking is unsafe: outside Linux (macOS system libraries may crash in a forked child, Windows has
    no fork) and when this process runs other threads (a notebook kernel's, a host application's), whose locks a
    forked child would inherit held. Those audits parse in this process, as every small one does."""
    jobs = available_cpus() if jobs is None else jobs
    if jobs <= 1 or not sys.platform.startswith("linux") or threading.active_count() > 1:
        return 0
    return min(jobs - 1, MAX_WORKERS, files // MIN_FILES_PER_WORKER)


def parse_files(files: list[SourceFile], keep: Callable[[SourceFile], bool], jobs: int | None = None,
                progress: Callable[[str], None] = lambda _msg: None) -> None:
    """Parse every loaded file (see source.parse_source). The files to keep are parsed here, their trees kept;
    when there are enough of the others, forked workers parse most of those at the same time and send back their
    imports, outlines and facts. The result is the same whatever the number of workers."""
    kept: list[SourceFile] = []
    dropped: list[SourceFile] = []
    for sf in files:
        if sf.error is None:
            (kept if keep(sf) else dropped).append(sf)
    # This process also takes some of the others when it keeps fewer than its share, so that every process has
    # about as many files to parse (the audit goes on only when the last one is done), and forks fewer workers
    # when what is left would give each fewer than MIN_FILES_PER_WORKER files.
    workers = worker_count(jobs, len(dropped))
    share = 0
    while workers:
        share = max(0, (len(kept) + len(dropped)) // (workers + 1) - len(kept))
        if (len(dropped) - share) // workers >= MIN_FILES_PER_WORKER:
            break
        workers -= 1
    here, dropped = kept + dropped[:share], dropped[share:]
    if not workers:
        _parse_here(here + dropped, kept, progress)
        return
    global _SHARED
    _SHARED = dropped
    bounds = [len(dropped) * i // workers for i in range(workers + 1)]
    chunks = list(zip(bounds, bounds[1:], strict=False))
    pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork"))
    try:
        try:
            futures = [pool.submit(_parse_range, lo, hi) for lo, hi in chunks]
        except Exception:  # noqa: BLE001  a fork was refused: parse them all here
            # The workers forked before the refused one wait for work the pool will never send, and shutdown()
            # does not stop them when the pool never started: they would outlive the audit.
            for proc in list(getattr(pool, "_processes", {}).values()):
                proc.terminate()
                proc.join(timeout=5)
            _parse_here(here + dropped, kept, progress)
            return
        _parse_here(here, kept, progress)
        for (lo, hi), future in zip(chunks, futures, strict=True):
            _apply(dropped[lo:hi], future)
    finally:
        pool.shutdown(cancel_futures=True)
        _SHARED = []


def _parse_here(files: list[SourceFile], kept: list[SourceFile], progress: Callable[[str], None]) -> None:
    keep = {id(sf) for sf in kept}
    for i, sf in enumerate(files):
        if i % 500 == 0:
            progress(f"parsing source files {i}/{len(files)}")
        parse_source(sf, id(sf) in keep)


def _apply(files: list[SourceFile], future: Future) -> None:
    """Record a worker's results, or parse its files here if it failed (killed, out of memory, fork refused):
    a worker's failure costs time, never a file."""
    try:
        results: list[_Parsed] = future.result()
    except Exception:  # noqa: BLE001  whatever broke the worker, the files are parsed again here
        for sf in files:
            parse_source(sf, False)
        return
    for sf, (parsed, error, error_line, aliases, stars, outline, facts) in zip(files, results, strict=True):
        sf.parsed, sf.error, sf.error_line = parsed, error, error_line
        sf.aliases, sf.star_imports, sf.outline, sf.facts = aliases, stars, outline, facts


def _parse_range(lo: int, hi: int) -> list[_Parsed]:
    """In a worker: parse the shared files lo..hi and return what each parse found (the trees stay here)."""
    out: list[_Parsed] = []
    for sf in _SHARED[lo:hi]:
        parse_source(sf, False)
        out.append((sf.parsed, sf.error, sf.error_line, sf.aliases, sf.star_imports, sf.outline, sf.facts))
    return out
