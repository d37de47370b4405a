"""The `trace` evidence: `.trainaudit/trace.json` left by `trainaudit run`, validated, or why it is unusable."""

from __future__ import annotations

from dataclasses import dataclass

from trainaudit.context import AuditContext, provider
from trainaudit.tracer.trace import TRACE_DIR, TRACE_FILE, Trace, TraceError, read_trace


@dataclass(frozen=True)
class TraceEvidence:
    """The run trace if one was found and is valid; `error` says why a present trace could not be used."""

    path: str  # relative to the project root
    trace: Trace | None = None
    error: str | None = None


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
    ctx.report_sections["trace"] = {
        "path": rel, "mode": trace.mode, "command": trace.command, "status": trace.status,
        "exit_status": trace.exit_status, "optimizer_steps": len(trace.steps), "backward_passes": len(trace.backwards),
        "losses": [s.loss for s in trace.steps], "seconds_per_step": [round(s.seconds, 4) for s in trace.steps],
        "peak_rss_kb": trace.peak_rss_kb, "modules": len(trace.modules), "optimizers": len(trace.optimizers),
        "logged_tags": sorted({c.tag for c in trace.logs}), "smoke": None if trace.smoke is None else vars(trace.smoke),
    }
    return TraceEvidence(rel, trace=trace)
