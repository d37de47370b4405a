"""Registers the "logs" evidence provider: the spec's log globs, else discovery over the project's files."""

from __future__ import annotations

from typing import TYPE_CHECKING

from trainaudit.context import provider
from trainaudit.evidence.logs.discover import collect
from trainaudit.evidence.logs.series import LogEvidence

if TYPE_CHECKING:
    from trainaudit.context import AuditContext


@provider("logs")
def collect_logs(ctx: AuditContext) -> LogEvidence:
    ctx.progress("reading training logs")
    return collect(ctx.root, ctx.files.other, tuple(ctx.spec.logs))
