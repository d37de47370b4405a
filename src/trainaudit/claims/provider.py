"""The audit's claims evidence: status documents named in the spec or found by name, checked against the project."""

from __future__ import annotations

import fnmatch
import re

from trainaudit.claims.artefacts import RunEvidence, from_evidence
from trainaudit.claims.checks import check_documents
from trainaudit.claims.model import ClaimsResult
from trainaudit.claims.render import render_claims
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


def run_evidence(ctx: AuditContext) -> RunEvidence:
    """Parameter counts (checkpoints, run trace), logged series and training artefacts from the audit's evidence."""
    return from_evidence(ctx.get("logs"), ctx.get("checkpoints"), ctx.get("trace"))


@provider("claims")
def collect_claims(ctx: AuditContext) -> ClaimsResult:
    docs = find_documents(ctx)
    ctx.progress(f"claims: {len(docs)} status document(s)")
    evidence = run_evidence(ctx) if docs else RunEvidence()  # no document, no reason to read logs
    result = check_documents([ctx.root / d for d in docs], repo=ctx.root, param_counts=evidence.param_counts,
                             series=evidence.series, artefacts=evidence.artefacts, files=ctx.files)
    if docs:  # every report format shows the claims table beside the findings
        ctx.report_sections["claims"] = {**result.to_dict(), "markdown": render_claims(result, "markdown")}
    return result
