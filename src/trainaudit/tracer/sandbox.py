"""The scratch copy a traced run works in, so its checkpoints, logs and results never touch the project."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from trainaudit.evidence.files import is_excluded_dir
from trainaudit.tracer.trace import Sandbox

LINK_FILE_BYTES = 32 * 1024 * 1024  # larger files are linked (copy-on-write by the child's write guard)
LINK_DIR_ENTRIES = 2000  # folders with more entries (image datasets) are linked whole


def make_scratch(project: Path, base: Path) -> tuple[Path, Sandbox]:
    """Copy `project` into base/<name>; environments and caches are left out, big data is linked."""
    dest = base / (project.name or "project")
    record = Sandbox(scratch=str(dest))
    _copy_dir(project, dest, project, record)
    return dest, record


def _copy_dir(src: Path, dst: Path, root: Path, record: Sandbox) -> None:
    dst.mkdir(parents=True, exist_ok=True)
    try:
        entries = sorted(os.scandir(src), key=lambda e: e.name)
    except OSError:
        return
    for e in entries:
        rel = os.path.relpath(e.path, root)
        target = dst / e.name
        if e.is_symlink():
            os.symlink(os.readlink(e.path), target)
        elif e.is_dir():
            if is_excluded_dir(e.path):
                record.excluded.append(rel)
            elif _count(e.path) > LINK_DIR_ENTRIES:
                os.symlink(e.path, target)
                record.linked.append(rel)
            else:
                _copy_dir(Path(e.path), target, root, record)
        elif e.is_file():
            if e.stat().st_size > LINK_FILE_BYTES:
                os.symlink(e.path, target)
                record.linked.append(rel)
            else:
                shutil.copy2(e.path, target)
                record.copied_files += 1


def _count(path: str) -> int:
    try:
        with os.scandir(path) as it:
            return sum(1 for _ in it)
    except OSError:
        return 0
