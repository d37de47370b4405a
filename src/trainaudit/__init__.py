"""trainaudit: tells whether an ML training project's claimed training is real, with evidence."""

from __future__ import annotations

from typing import TYPE_CHECKING

__version__ = "0.1.0"

if TYPE_CHECKING:
    from pathlib import Path

    from trainaudit.report.model import Report

__all__ = ["__version__", "audit"]


def audit(path: str | Path, spec: str | Path | None = None, **options) -> Report:
    """Audit a project directory without executing it; returns a Report renderable to every format."""
    from trainaudit.engine import run_audit  # imported lazily to keep `import trainaudit` light

    return run_audit(path, spec_file=spec, **options)
