"""Reports: one Report object, rendered to text, JSON, Markdown, SARIF and HTML."""

from __future__ import annotations

FORMATS = ("text", "json", "markdown", "sarif", "html")


def render(report, fmt: str, *, color: bool = False) -> str:
    """Render a finished Report; renderers never see the engine."""
    if fmt == "text":
        from trainaudit.report.text import render_text

        return render_text(report, color=color)
    if fmt == "json":
        from trainaudit.report.json_report import render_json

        return render_json(report)
    if fmt == "markdown":
        from trainaudit.report.markdown import render_markdown

        return render_markdown(report)
    if fmt == "sarif":
        from trainaudit.report.sarif import render_sarif

        return render_sarif(report)
    if fmt == "html":
        from trainaudit.report.html import render_html

        return render_html(report)
    raise ValueError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
