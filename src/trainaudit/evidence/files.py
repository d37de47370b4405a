"""Walk the audited project once, skipping environments and build output, and sort files by kind."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

SKIP_DIRS = frozenset(
    {
        ".git", ".hg", ".svn", ".venv", "venv", ".env", "env", "site-packages", "dist-packages",
        "node_modules", "__pycache__", "build", "dist", ".tox", ".nox", ".mypy_cache",
        ".pytest_cache", ".ruff_cache", ".ipynb_checkpoints", ".eggs", ".trainaudit", "wandb-cache",
    }
)


@dataclass
class ProjectFiles:
    """Every file of interest, as paths relative to the root (POSIX separators)."""

    root: Path
    python: list[str] = field(default_factory=list)
    notebooks: list[str] = field(default_factory=list)
    other: list[str] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (path, why)

    @property
    def all(self) -> list[str]:
        return sorted(self.python + self.notebooks + self.other)


def is_excluded_dir(path: str | os.PathLike[str]) -> bool:
    """Environments, caches and build output: never the project's own code or artifacts."""
    name = os.path.basename(path)
    return name in SKIP_DIRS or name.endswith(".egg-info") or os.path.exists(os.path.join(path, "pyvenv.cfg"))


def discover(root: Path) -> ProjectFiles:
    """List files without following directory links, so a symlink loop cannot trap the walk."""
    found = ProjectFiles(root=root)
    real_root = root.resolve()
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False, onerror=None):
        rel_dir = os.path.relpath(dirpath, root)
        keep = []
        for d in dirnames:
            full = os.path.join(dirpath, d)
            if os.path.islink(full) or is_excluded_dir(full):
                continue
            try:
                os.listdir(full)  # os.walk would skip an unreadable folder silently; say so instead
            except OSError as exc:
                found.skipped.append((_rel(rel_dir, d), f"unreadable directory: {exc.strerror}"))
                continue
            keep.append(d)
        dirnames[:] = sorted(keep)
        for name in sorted(filenames):
            rel = _rel(rel_dir, name)
            full = os.path.join(dirpath, name)
            if os.path.islink(full):
                target = os.path.realpath(full)
                if not os.path.isfile(target) or not target.startswith(str(real_root) + os.sep):
                    found.skipped.append((rel, "symbolic link that leaves the project or is broken"))
                    continue
            if name.endswith(".py"):
                found.python.append(rel)
            elif name.endswith(".ipynb"):
                found.notebooks.append(rel)
            else:
                found.other.append(rel)
    return found


def _rel(rel_dir: str, name: str) -> str:
    return name if rel_dir == "." else Path(rel_dir, name).as_posix()


def is_test_path(rel: str) -> bool:
    """Test code may use mocks and random tensors freely."""
    parts = rel.split("/")
    name = parts[-1]
    return (
        any(p in ("tests", "test", "testing") for p in parts[:-1])
        or name.startswith("test_")
        or name.endswith("_test.py")
        or name == "conftest.py"
    )
