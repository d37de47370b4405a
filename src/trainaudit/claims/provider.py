"""The audit's claims evidence: status documents named in the spec or found by name, checked against the project."""

from __future__ import annotations

import fnmatch
import re
from typing import Any

from trainaudit.claims.checks import check_documents
from trainaudit.claims.model import ClaimsResult
from trainaudit.claims.render import render_claims
from trainaudit.claims.repo import ParamCount
from trainaudit.context import AuditContext, provider

DOC_EXTS = (".md", ".markdown", ".txt", ".rst")
DOC_NAMES = re.compile(
    r"progress|status|report|summary|assessment|tracker|results|readiness|completion|milestones?|handoff|findings",
    re.I,
)


def find_documents(ctx: AuditContext) -> list[str]:
    """Documents named by the spec's `claims` globs, else those whose names say they report status."""
    files = ctx.files.other
    if ctx.spec.claims:
        return sorted({f for f in files for g in ctx.spec.claims if fnmatch.fnmatch(f, g)})
    return sorted(f for f in files if f.lower().endswith(DOC_EXTS) and DOC_NAMES.search(f.rsplit("/", 1)[-1]))


def _checkpoint_params(ctx: AuditContext) -> list[ParamCount]:
    """Parameter counts from the checkpoint collector, when one is registered; its shape is read defensively."""
    try:
        found: Any = ctx.get("checkpoints")
    except KeyError:
        return []
    items = getattr(found, "checkpoints", found)
    items = items.values() if isinstance(items, dict) else items
    out = []
    for item in items if isinstance(items, (list, tuple)) else []:
        for attr in ("parameter_count", "param_count", "n_params", "num_params", "total_params"):
            n = getattr(item, attr, None)
            if isinstance(n, int) and not isinstance(n, bool):
                out.append(ParamCount(str(getattr(item, "path", "checkpoint")), n))
                break
    return out


@provider("claims")
def collect_claims(ctx: AuditContext) -> ClaimsResult:
    docs = find_documents(ctx)
    ctx.progress(f"claims: {len(docs)} status document(s)")
    result = check_documents([ctx.root / d for d in docs], repo=ctx.root, param_counts=_checkpoint_params(ctx))
    if docs:  # every report format shows the claims table beside the findings
        ctx.report_sections["claims"] = {**result.to_dict(), "markdown": render_claims(result, "markdown")}
    return result
