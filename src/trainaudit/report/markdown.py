"""Markdown rendering shaped like a hand-written audit: summary, evidence by source, next steps."""

from __future__ import annotations

from pathlib import Path

from trainaudit.finding import Finding, Severity
from trainaudit.report.model import Report
from trainaudit.verdict import Verdict

# Evidence sections in the order a reader checks them; a finding's `source` picks its section.
SECTIONS = (
    ("static", "Static Code Analysis"),
    ("logs", "Log File Analysis"),
    ("checkpoint", "Model Checkpoint Analysis"),
    ("trace", "Run Trace"),
    ("claims", "Status Documents"),
    ("engine", "Audit Coverage"),
)
_CONCLUSION = {
    Verdict.INVALID: "The claimed training is **not** established by the evidence. A new, valid training run "
    "must be performed after the next steps below.",
    Verdict.INCONCLUSIVE: "The evidence needed to judge the training is missing; provide it and audit again.",
    Verdict.VALID: "No error was found: the training code and artifacts support the claim.",
}


def _md(text: str) -> str:
    return text.replace("|", "\\|")


def _where(f: Finding) -> str:
    return f"`{f.location}`"


def render_markdown(report: Report) -> str:
    name = Path(report.root).name or report.root
    errors = [f for f in report.findings if f.severity is Severity.ERROR]
    out = [f"# Training Audit Report: {name}", "", "## 1. Executive Summary", ""]
    out.append(f"This report concludes that the training in `{name}` is **{report.verdict.value}**.")
    out.append("")
    out.append("Why: " + "; ".join(report.reasons) + ".")
    out.append("")
    key = errors or [f for f in report.findings if f.severity is Severity.WARNING]
    if key:
        out.append("The key findings are:")
        seen: set[str] = set()
        for f in key:
            if f.rule in seen:
                continue
            seen.add(f.rule)
            out.append(f"- **{f.rule}** ({f.code}): {_md(f.message)} ({_where(f)})")
        out.append("")
    out.append(f"**Conclusion:** {_CONCLUSION[report.verdict]}")
    out += ["", "## 2. Evidence", ""]
    n = 0
    for source, title in SECTIONS:
        items = [f for f in report.findings if f.source == source]
        if not items:
            continue
        n += 1
        out += [f"### 2.{n}. {title}", ""]
        for f in items:
            out.append(f"- {_where(f)} {f.severity.value} **{f.rule}** ({f.code}): {_md(f.message)}")
        out.append("")
    if n == 0:
        out += ["No finding in any evidence source.", ""]
    for title, section in report.sections.items():
        table = section.get("markdown") if isinstance(section, dict) else None
        if table:
            n += 1
            out += [f"### 2.{n}. {title.capitalize()}", "", table, ""]
    out += ["## 3. Required Next Steps", ""]
    steps = report.next_steps()
    if steps:
        out += [f"{i}. {s}" for i, s in enumerate(steps, 1)]
    else:
        out.append("None.")
    out += ["", "## Appendix: What Was Read", ""]
    s = report.summary
    out.append(f"- Files analysed: {s['files_analysed']} (unreadable: {s['files_unreadable']})")
    out.append(f"- Training entry points: {', '.join(f'`{p}`' for p in s['entry_points']) or 'none found'}")
    out.append(f"- Trained module classes: {', '.join(f'`{c}`' for c in s['trained_classes']) or 'none found'}")
    if report.spec.get("origin"):
        out.append(f"- Spec: `{report.spec['origin']}`")
    for line in report.inferred:
        out.append(f"- Inferred: {line}")
    out.append(f"- trainaudit {report.tool_version}, report schema {report.schema_version}")
    return "\n".join(out) + "\n"
