"""The `trace` evidence: `.trainaudit/trace.json` left by `trainaudit run`, validated, or why it is unusable."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from trainaudit.context import AuditContext, provider
from trainaudit.tracer.trace import TRACE_DIR, TRACE_FILE, ParamRecord, Trace, TraceError, read_trace


class TraceTree:
    """Module ancestry and parameter ownership of one trace."""

    def __init__(self, trace: Trace) -> None:
        self.t = trace
        self.params_of: dict[int, list[ParamRecord]] = {m.id: [] for m in trace.modules}
        for p in trace.parameters:
            if p.module >= 0:
                for mid in self.ancestors(p.module, inclusive=True):
                    self.params_of[mid].append(p)

    def ancestors(self, mid: int, inclusive: bool = False) -> list[int]:
        out, cur, seen = [], mid if inclusive else self.t.modules[mid].parent, set()
        while cur is not None and cur not in seen:
            seen.add(cur)
            out.append(cur)
            cur = self.t.modules[cur].parent
        return out

    def root(self, mid: int) -> int:
        return ([mid] + self.ancestors(mid))[-1]

    def related(self, a: int, b: int) -> bool:
        return a == b or a in self.ancestors(b) or b in self.ancestors(a)


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

    @cached_property
    def tree(self) -> TraceTree:
        """Built once for all the checks that walk the module tree; only when `trace` is present."""
        if self.trace is None:
            raise ValueError("no trace to build a module tree from")
        return TraceTree(self.trace)


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
