"""Registers the "logs" evidence provider: the spec's log globs, else discovery over the project's files."""

from __future__ import annotations

from typing import TYPE_CHECKING

from trainaudit.context import provider
from trainaudit.evidence.logs.discover import collect
from trainaudit.evidence.logs.sampling import series_section
from trainaudit.evidence.logs.series import LogEvidence

if TYPE_CHECKING:
    from trainaudit.context import AuditContext


@provider("logs")
def collect_logs(ctx: AuditContext) -> LogEvidence:
    ctx.progress("reading training logs")
    logs = collect(ctx.root, ctx.files.other, tuple(ctx.spec.logs))
    if logs.files:  # the report plots what was read; the renderers never reach back into the evidence
        ctx.report_sections["series"] = series_section(logs)
    return logs
