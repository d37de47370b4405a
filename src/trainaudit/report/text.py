"""Terminal rendering of a Report; colour only when asked (the CLI asks on a TTY)."""

from __future__ import annotations

from trainaudit.finding import Severity
from trainaudit.report.model import Report
from trainaudit.verdict import Verdict

_COLORS = {"red": "31", "yellow": "33", "green": "32", "cyan": "36", "bold": "1", "dim": "2"}
_SEV_COLOR = {Severity.ERROR: "red", Severity.WARNING: "yellow", Severity.INFO: "cyan"}
_VERDICT_COLOR = {Verdict.VALID: "green", Verdict.INVALID: "red", Verdict.INCONCLUSIVE: "yellow"}


def render_text(report: Report, *, color: bool = False) -> str:
    def paint(text: str, name: str) -> str:
        return f"\033[{_COLORS[name]}m{text}\033[0m" if color else text

    out: list[str] = []
    for f in report.findings:
        sev = paint(f.severity.value, _SEV_COLOR[f.severity])
        out.append(f"{paint(str(f.location), 'bold')}: {sev} {f.code} [{f.rule}] {f.message}")
        if f.snippet:
            out.append(paint(f"    {f.snippet}", "dim"))
    if report.findings:
        out.append("")
    for line in report.inferred:
        out.append(paint(f"note: {line}", "dim"))
    s = report.summary
    out.append(
        f"{s['files_analysed']} file(s) analysed, {s['errors']} error(s), {s['warnings']} warning(s), "
        f"{s['infos']} info"
    )
    verdict = paint(report.verdict.value.upper(), _VERDICT_COLOR[report.verdict])
    out.append(f"verdict: {paint(verdict, 'bold')} ({'; '.join(report.reasons)})")
    return "\n".join(out) + "\n"
