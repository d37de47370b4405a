"""The `trace` evidence: `.trainaudit/trace.json` left by `trainaudit run`, validated, or why it is unusable."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from trainaudit.context import AuditContext, provider
from trainaudit.tracer.trace import TRACE_DIR, TRACE_FILE, Trace, TraceError, read_trace


@dataclass(frozen=True)
class TraceEvidence:
    """The run trace if one was found and is valid; `error` says why a present trace could not be used.

    `changed` and `deleted` list the project files the traced run imported that differ from, or are gone
    since, the run: findings from such a trace describe older code.
    """

    path: str  # relative to the project root
    trace: Trace | None = None
    error: str | None = None
    changed: tuple[str, ...] = ()
    deleted: tuple[str, ...] = ()

    @property
    def stale(self) -> bool:
        return bool(self.changed or self.deleted)


def _drift(root: Path, sources: dict[str, str]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    changed, deleted = [], []
    for rel, digest in sorted(sources.items()):
        try:
            now = hashlib.sha256((root / rel).read_bytes()).hexdigest()
        except OSError:
            deleted.append(rel)
            continue
        if now != digest:
            changed.append(rel)
    return tuple(changed), tuple(deleted)


@provider("trace")
def collect_trace(ctx: AuditContext) -> TraceEvidence:
    rel = f"{TRACE_DIR}/{TRACE_FILE}"
    path = ctx.root / TRACE_DIR / TRACE_FILE
    if not path.is_file():
        return TraceEvidence(rel)
    try:
        trace = read_trace(path)
    except TraceError as exc:
        return TraceEvidence(rel, error=str(exc))
    changed, deleted = _drift(ctx.root, trace.sources)
    ctx.report_sections["trace"] = {
        "path": rel, "mode": trace.mode, "command": trace.command, "status": trace.status,
        "exit_status": trace.exit_status, "optimizer_steps": len(trace.steps), "backward_passes": len(trace.backwards),
        "losses": [s.loss for s in trace.steps], "seconds_per_step": [round(s.seconds, 4) for s in trace.steps],
        "peak_rss_kb": trace.peak_rss_kb, "modules": len(trace.modules), "optimizers": len(trace.optimizers),
        "logged_tags": sorted({c.tag for c in trace.logs}), "smoke": None if trace.smoke is None else vars(trace.smoke),
        "stale": {"changed": list(changed), "deleted": list(deleted)} if changed or deleted else None,
    }
    return TraceEvidence(rel, trace=trace, changed=changed, deleted=deleted)
