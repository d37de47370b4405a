"""Self-contained HTML rendering of a Report: verdict, findings with evidence, an inline SVG plot per series."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from html import escape
from pathlib import Path
from typing import Any

from trainaudit.evidence.logs.sampling import downsample
from trainaudit.finding import Finding, Severity
from trainaudit.report.json_report import _clean
from trainaudit.report.markdown import SECTIONS
from trainaudit.report.model import Report
from trainaudit.verdict import Verdict

# Plot geometry (SVG user units; CSS scales the plot to its column) and the points drawn per plot:
# a few per horizontal pixel is all a line chart can show, and keeps a 200-series report small.
W, H = 360, 168
ML, MR, MT, MB = 58, 14, 18, 24
PLOT_POINTS = 600
_DOTS_BELOW = 40  # series this short also get a dot per point

_HEADLINE = {
    Verdict.INVALID: "The claimed training is not established by the evidence.",
    Verdict.INCONCLUSIVE: "The evidence needed to judge the training is missing.",
    Verdict.VALID: "No error was found: the training code and artifacts support the claim.",
}
_CLAIM_STATUS_CLASS = {"verified": "ok", "contradicted": "bad", "inconsistent": "bad", "unsupported": "warn",
                       "prediction": "muted", "unchecked": "muted"}
_MARKER_KEYS = ("step", "first_step")  # evidence keys that name the step where something happened

# No network at view time: the policy forbids every fetch; the page needs nothing but its inline CSS.
_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'"

_CSS = """
:root{color-scheme:light;--fg:#1d232b;--muted:#5b6573;--line:#d9dee5;--bg:#f5f7fa;--card:#fff;
--err:#b42318;--err-bg:#fdecea;--warn:#9a5b00;--warn-bg:#fff4dc;--info:#175cd3;--info-bg:#e8f0fe;
--ok:#067647;--ok-bg:#e3f6ec;--plot:#2463c7}
*{box-sizing:border-box}
body{margin:0;background:var(--bg);color:var(--fg);font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,
"Helvetica Neue",Arial,sans-serif}
code,pre,.mono{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,"Liberation Mono",monospace;font-size:.86em}
main{max-width:1240px;margin:0 auto;padding:0 24px 48px}
h2{font-size:1.3rem;margin:36px 0 12px;padding-bottom:6px;border-bottom:1px solid var(--line)}
h3{font-size:1.05rem;margin:24px 0 8px}
.banner{padding:28px 24px;color:#fff}
.banner>div{max-width:1240px;margin:0 auto}
.banner.invalid{background:linear-gradient(135deg,#9b1c13,#c8321f)}
.banner.valid{background:linear-gradient(135deg,#055c38,#0b8a55)}
.banner.inconclusive{background:linear-gradient(135deg,#8a4b00,#c27803)}
.banner .kicker{text-transform:uppercase;letter-spacing:.08em;font-size:.78rem;opacity:.85;margin:0}
.banner h1{margin:2px 0 6px;font-size:1.7rem;line-height:1.25;font-weight:650}
.banner h1 .verdict{display:inline-block;padding:0 10px;margin-right:8px;border-radius:6px;background:#fff;
letter-spacing:.04em}
.banner.invalid h1 .verdict{color:var(--err)}.banner.valid h1 .verdict{color:var(--ok)}
.banner.inconclusive h1 .verdict{color:var(--warn)}
.banner code{background:rgba(255,255,255,.16);padding:1px 6px;border-radius:4px}
.banner .headline{margin:0 0 6px;font-size:1.05rem}
.banner ul{margin:0 0 10px;padding-left:20px}
.banner ul.counts{display:flex;flex-wrap:wrap;gap:8px;margin:0;padding:0;list-style:none}
.counts li{background:rgba(255,255,255,.16);border-radius:999px;padding:2px 12px;font-size:.88rem}
nav.toc{margin:14px 0 0;font-size:.9rem}
nav.toc a{color:#fff;opacity:.92;margin-right:16px;text-decoration:none;border-bottom:1px solid rgba(255,255,255,.4)}
nav.toc a:hover{text-decoration:underline}
table{width:100%;border-collapse:collapse;background:var(--card);border:1px solid var(--line);border-radius:8px;
overflow:hidden;font-size:.92rem}
th,td{text-align:left;vertical-align:top;padding:8px 10px;border-top:1px solid var(--line)}
thead th{background:#eef1f5;border-top:0;font-size:.8rem;text-transform:uppercase;letter-spacing:.04em;
color:var(--muted)}
td.loc{max-width:22em}td.loc code{overflow-wrap:break-word}
td.msg{overflow-wrap:anywhere}td.msg p{margin:0}
tr.sev-error td:first-child{box-shadow:inset 3px 0 var(--err)}
tr.sev-warning td:first-child{box-shadow:inset 3px 0 var(--warn)}
tr.sev-info td:first-child{box-shadow:inset 3px 0 var(--info)}
.badge{display:inline-block;border-radius:4px;padding:0 7px;font-size:.78rem;font-weight:600;white-space:nowrap}
.badge.error,.badge.bad{background:var(--err-bg);color:var(--err)}
.badge.warning,.badge.warn{background:var(--warn-bg);color:var(--warn)}
.badge.info{background:var(--info-bg);color:var(--info)}
.badge.ok{background:var(--ok-bg);color:var(--ok)}
.badge.muted{background:#eceff3;color:var(--muted)}
.slug{color:var(--muted)}td.rule{white-space:nowrap}
details{margin-top:4px}
summary{cursor:pointer;color:var(--plot);font-size:.85rem}
pre{background:#f3f5f8;border:1px solid var(--line);border-radius:6px;padding:8px 10px;overflow:auto;
max-height:360px;margin:6px 0 0;white-space:pre-wrap;word-break:break-word}
pre.snippet{max-height:none;color:#3d4653}
.empty{color:var(--muted);font-style:italic;margin:8px 0}
.noplot{display:flex;align-items:center;justify-content:center;min-height:140px;border:1.5px dashed #c4cad3;
border-radius:8px;color:var(--muted);font-style:italic;text-align:center;padding:12px}
.logfile{background:var(--card);border:1px solid var(--line);border-radius:10px;padding:14px 16px;margin:14px 0}
.logfile>header{display:flex;flex-wrap:wrap;align-items:baseline;gap:4px 12px;margin-bottom:10px}
.logfile>header code{font-size:.92rem;font-weight:600;word-break:break-all}
.logfile>header .meta{color:var(--muted);font-size:.85rem}
.side{display:grid;grid-template-columns:minmax(0,5fr) minmax(0,7fr);gap:16px;align-items:start}
.side.plots-only{grid-template-columns:minmax(0,1fr)}
.side table{font-size:.88rem}
.plots{display:grid;grid-template-columns:repeat(auto-fill,minmax(290px,1fr));gap:12px}
figure.plot{margin:0;border:1px solid var(--line);border-radius:8px;padding:8px 8px 4px;background:#fff}
figure.plot.flag-error{border-color:var(--err);box-shadow:0 0 0 1px var(--err)}
figure.plot.flag-warning{border-color:var(--warn);box-shadow:0 0 0 1px var(--warn)}
figure.plot.flag-info{border-color:var(--info)}
figure.plot figcaption{font-size:.82rem;line-height:1.35;margin-bottom:2px}
figure.plot .tag{font-weight:650;font-size:.92rem;word-break:break-all}
figure.plot .src{color:var(--muted)}
figure.plot .file{display:block;white-space:nowrap;overflow:hidden;text-overflow:ellipsis}
svg.chart{display:block;width:100%;height:auto}
svg.chart path{fill:none}
svg.chart .axis{stroke:#9aa4b1;stroke-width:1}
svg.chart .grid{stroke:#e6e9ee;stroke-width:1}
svg.chart .line{fill:none;stroke:var(--plot);stroke-width:1.6;stroke-linejoin:round;stroke-linecap:round}
svg.chart .dot{fill:var(--plot)}
svg.chart .nan{stroke:var(--err);stroke-width:1;opacity:.55}
svg.chart .marker{stroke:var(--err);stroke-width:1.2;stroke-dasharray:4 3}
svg.chart text{font:10.5px system-ui,-apple-system,"Segoe UI",Roboto,Arial,sans-serif;fill:#5b6573}
svg.chart text.mark{fill:var(--err);font-weight:600}
svg.chart text.note{fill:var(--err);font-size:12px}
dl.facts{display:grid;grid-template-columns:max-content minmax(0,1fr);gap:6px 18px;background:var(--card);
border:1px solid var(--line);border-radius:8px;padding:12px 16px;margin:0}
dl.facts dt{color:var(--muted)}dl.facts dd{margin:0;word-break:break-word}
ol.steps li{margin:4px 0}
footer{color:var(--muted);font-size:.85rem;margin-top:36px}
@media (max-width:820px){.side{grid-template-columns:minmax(0,1fr)}
table,tbody,tr,td{display:block}thead{display:none}td{border-top:0;padding:4px 10px}
tr{border-top:1px solid var(--line);padding:6px 0}td.loc{max-width:none}
tr.sev-error{box-shadow:inset 3px 0 var(--err)}tr.sev-warning{box-shadow:inset 3px 0 var(--warn)}
tr.sev-info{box-shadow:inset 3px 0 var(--info)}tr td:first-child{box-shadow:none}
dl.facts{grid-template-columns:minmax(0,1fr)}dl.facts dd{margin-bottom:6px}}
"""


def e(value: Any) -> str:
    """Escape anything that came from the project (paths, messages, tags, evidence) for text and attributes."""
    return escape(str(value), quote=True)


def _count(n: int, word: str) -> str:
    return f"{n:,} {word}{'' if n == 1 or word == 'info' else 's'}"


def _short(path: str, keep: int = 44) -> str:
    """The end of a long path (its file name is what tells files apart); the title attribute has it whole."""
    return path if len(path) <= keep else "\u2026" + path[-(keep - 1):]


def _breakable(path: str) -> str:
    """Escaped, with line-break opportunities after each slash only (never inside a name or line number)."""
    return "/<wbr>".join(e(part) for part in path.split("/"))


def _num(v: float) -> str:
    return f"{v:.4g}"


def _code_spans(text: str) -> str:
    """Escape, then show `backticked` names (as the rules' remedies write them) as code."""
    return re.sub(r"`([^`]+)`", r"<code>\1</code>", e(text))


def series_name(entry: dict[str, Any]) -> str:
    """The name findings use for a series: the tag, qualified by the run when a file holds several."""
    return f"{entry['tag']} [run {entry['run']}]" if entry.get("run") else str(entry["tag"])


def marker_steps(findings: Iterable[Finding]) -> list[tuple[int, str]]:
    """Steps where findings say something happened (e.g. the first NaN), with a short label each."""
    out: list[tuple[int, str]] = []
    for f in findings:
        ev = f.evidence
        if "last_step" in ev:  # a range (the span a trend was measured over), not an event
            continue
        for key in _MARKER_KEYS:
            step = ev.get(key)
            if isinstance(step, int) and not isinstance(step, bool):
                out.append((step, f"{f.rule} at step {step}"))
    return out


def svg_plot(steps: Sequence[int], values: Sequence[float | None], *, label: str,
             markers: Sequence[tuple[int, str]] = ()) -> str:
    """One small line chart: axes, min/max and first/last step labels, gaps and red ticks at NaN/Inf points,
    dashed markers at the given steps. `label` is the accessible name (escaped here)."""
    steps, values = downsample(steps, values, PLOT_POINTS) if len(values) > PLOT_POINTS else (steps, values)
    parts = [f'<svg class="chart" viewBox="0 0 {W} {H}" role="img" aria-label="{e(label)}">',
             f"<title>{e(label)}</title>"]
    left, right, top, bottom = ML, W - MR, MT, H - MB
    parts.append(f'<path class="axis" d="M{left} {top}V{bottom}H{right}"/>')
    if not steps:
        parts.append(f'<text class="note" x="{(left + right) / 2}" y="{(top + bottom) / 2}" '
                     f'text-anchor="middle">no points</text></svg>')
        return "".join(parts)
    finite = [v for v in values if v is not None]
    x0, x1 = min(steps), max(steps)
    if x0 == x1:
        x0, x1 = x0 - 1, x1 + 1
    y0, y1 = (min(finite), max(finite)) if finite else (0.0, 1.0)
    if y0 == y1:
        pad = abs(y0) * 0.05 or 1.0
        y0, y1 = y0 - pad, y1 + pad

    def sx(s: float) -> float:
        return left + (s - x0) / (x1 - x0) * (right - left)

    def sy(v: float) -> float:
        return top + (y1 - v) / (y1 - y0) * (bottom - top)

    # Grid and labels: min and max of the values, first and last step.
    for v in (y0, y1):
        y = sy(v)
        parts.append(f'<path class="grid" d="M{left + 1} {y:.1f}H{right}"/>')
        parts.append(f'<text x="{left - 5}" y="{y + 3.5:.1f}" text-anchor="end">{e(_num(v))}</text>')
    parts.append(f'<text x="{left}" y="{H - 8}" text-anchor="start">{e(min(steps))}</text>')
    parts.append(f'<text x="{right}" y="{H - 8}" text-anchor="end">{e(max(steps))}</text>')
    parts.append(f'<text x="{(left + right) / 2}" y="{H - 8}" text-anchor="middle">step</text>')
    # NaN/Inf points have no height: a red tick across the plot at their step, and a gap in the line.
    bad = sorted({round(sx(s), 1) for s, v in zip(steps, values, strict=True) if v is None})
    if bad:
        parts.append('<path class="nan" d="' + "".join(f"M{x} {top}V{bottom}" for x in bad) + '"/>')
    if not finite:
        parts.append(f'<text class="note" x="{(left + right) / 2}" y="{(top + bottom) / 2}" '
                     f'text-anchor="middle">every point is NaN/Inf</text>')
    d: list[str] = []
    pen_down = False
    for s, v in zip(steps, values, strict=True):
        if v is None:
            pen_down = False
            continue
        d.append(f"{'L' if pen_down else 'M'}{sx(s):.1f} {sy(v):.1f}")
        pen_down = True
    if d:
        parts.append(f'<path class="line" d="{"".join(d)}"/>')
    # Points with no neighbour draw no line; short series get a dot per point.
    dots = [(s, v) for i, (s, v) in enumerate(zip(steps, values, strict=True)) if v is not None and (
        len(values) <= _DOTS_BELOW
        or ((i == 0 or values[i - 1] is None) and (i == len(values) - 1 or values[i + 1] is None)))]
    for s, v in dots:
        parts.append(f'<circle class="dot" cx="{sx(s):.1f}" cy="{sy(v):.1f}" r="2"/>')
    for step, text in markers:
        if not x0 <= step <= x1:
            continue
        x = sx(step)
        anchor = "end" if x > (left + right) / 2 else "start"
        dx = -3 if anchor == "end" else 3
        parts.append(f'<g><title>{e(text)}</title><path class="marker" d="M{x:.1f} {top - 4}V{bottom}"/>'
                     f'<text class="mark" x="{x + dx:.1f}" y="{top - 6}" text-anchor="{anchor}">'
                     f"step {e(step)}</text></g>")
    parts.append("</svg>")
    return "".join(parts)


def _evidence(f: Finding) -> str:
    if not f.evidence:
        return ""
    text = json.dumps(_clean(f.evidence), indent=2, default=str, ensure_ascii=False)
    return f"<details><summary>Evidence</summary><pre>{e(text)}</pre></details>"


def _location(f: Finding) -> str:
    return str(f.location) if f.location.path not in ("", ".") else "(project)"


def _findings_table(findings: Sequence[Finding], *, location: bool = True) -> str:
    head = ("<tr><th scope=\"col\">Severity</th><th scope=\"col\">Rule</th>"
            + ("<th scope=\"col\">Location</th>" if location else "") + "<th scope=\"col\">Finding</th></tr>")
    rows = []
    for f in findings:
        sev = f.severity.value
        snippet = f'<pre class="snippet">{e(f.snippet)}</pre>' if f.snippet else ""
        rows.append(
            f'<tr class="sev-{sev}"><td><span class="badge {sev}">{sev}</span></td>'
            f'<td class="rule"><code>{e(f.code)}</code><br><span class="slug">{e(f.rule)}</span></td>'
            + (f'<td class="loc"><code>{_breakable(_location(f))}</code></td>' if location else "")
            + f'<td class="msg"><p>{e(f.message)}</p>{snippet}{_evidence(f)}</td></tr>'
        )
    return f"<table><thead>{head}</thead><tbody>{''.join(rows)}</tbody></table>"


def _worst(findings: Sequence[Finding]) -> Severity | None:
    return min((f.severity for f in findings), key=lambda s: s.rank, default=None)


def _plot_figure(entry: dict[str, Any], about: Sequence[Finding], ident: str) -> str:
    name = series_name(entry)
    source = str(entry.get("source", ""))
    points, kept, bad = entry.get("points", 0), len(entry.get("values", [])), entry.get("non_finite", 0)
    meta = [f"{points:,} point{'s' if points != 1 else ''}"]
    if kept < points:
        meta.append(f"{kept:,} kept for the report")
    worst = _worst(about)
    badges = "".join(f' <span class="badge {f.severity.value}">{e(f.code)} {e(f.rule)}</span>' for f in about)
    bad_badge = f' <span class="badge error">{bad:,} NaN/Inf</span>' if bad else ""
    label = (f"Line chart of {name} from {entry.get('source')}: {points} points"
             + (f", {bad} NaN/Inf" if bad else ""))
    svg = svg_plot(entry.get("steps", []), entry.get("values", []), label=label, markers=marker_steps(about))
    cls = f"plot flag-{worst.value}" if worst else "plot"
    return (f'<figure class="{cls}" id="{ident}"><figcaption><span class="tag">{e(name)}</span>{bad_badge}{badges}'
            f'<span class="src file mono" title="{e(source)}">{e(_short(source))}</span>'
            f'<span class="src">{" · ".join(meta)}</span></figcaption>{svg}</figure>')


def _logs_section(findings: Sequence[Finding], section: dict[str, Any] | None) -> str:
    """Log findings beside the plots of the file (and tag) they are about; the rest in a table above."""
    if not section:
        return _findings_table(findings)
    files = section.get("files", [])
    paths = {f.get("path") for f in files}
    general = [f for f in findings if f.path not in paths]
    out = [_findings_table(general)] if general else []
    series = section.get("series", [])
    n = 0
    for lf in files:
        path = lf.get("path")
        about_file = [f for f in findings if f.path == path]
        mine = [s for s in series if s.get("source") == path]
        figures = []
        for entry in mine:
            name = series_name(entry)
            about = [f for f in about_file if f.evidence.get("tag") == name]
            n += 1
            figures.append(_plot_figure(entry, about, f"series-{n}"))
        plots = (f'<div class="plots">{"".join(figures)}</div>' if figures
                 else '<div class="noplot">No scalar points in this file: nothing to plot.</div>')
        meta = (f"{e(lf.get('format'))} · {lf.get('points', 0):,} point(s) in {lf.get('series', 0)} series"
                + (f" · {lf.get('problems')} read problem(s)" if lf.get("problems") else ""))
        if about_file:
            body = (f'<div class="side"><div class="log-findings">{_findings_table(about_file, location=False)}'
                    f"</div>{plots}</div>")
        else:
            body = f'<div class="side plots-only">{plots}</div>'
        out.append(f'<article class="logfile"><header><code>{e(path)}</code><span class="meta">{meta}</span>'
                   f"</header>{body}</article>")
    return "".join(out)


def _claims_section(section: dict[str, Any]) -> str:
    claims = section.get("claims", [])
    out = [f"<p>{e(section.get('summary', ''))}</p>"]
    docs = section.get("documents", [])
    if docs:
        out.append("<p>Documents read: " + ", ".join(f"<code>{e(d.get('path'))}</code>" for d in docs) + "</p>")
    if not claims:
        out.append('<p class="empty">No checkable claim in these documents.</p>')
        return "".join(out)
    rows = []
    for c in claims:
        status = str(c.get("status", "unchecked"))
        notes = "".join(f"<li>{e(n)}</li>" for n in c.get("evidence", []))
        rows.append(
            f'<tr><td><span class="badge {_CLAIM_STATUS_CLASS.get(status, "muted")}">{e(status)}</span></td>'
            f'<td class="loc"><code>{e(c.get("path"))}:{e(c.get("line"))}</code></td><td>{e(c.get("kind"))}</td>'
            f'<td>{e(c.get("text"))}{f"<ul>{notes}</ul>" if notes else ""}</td></tr>'
        )
    out.append('<table><thead><tr><th scope="col">Status</th><th scope="col">Where</th><th scope="col">Kind</th>'
               f'<th scope="col">Claim and evidence</th></tr></thead><tbody>{"".join(rows)}</tbody></table>')
    return "".join(out)


def _next_steps(report: Report) -> str:
    steps = [_code_spans(step) for step in report.next_steps()]
    if not steps:
        return '<p class="empty">None.</p>'
    return '<ol class="steps">' + "".join(f"<li>{s}</li>" for s in steps) + "</ol>"


def _what_was_read(report: Report, series: dict[str, Any] | None, extra: dict[str, Any]) -> str:
    s = report.summary
    spec = report.spec

    def codes(items: Iterable[Any], empty: str = "none found") -> str:
        return ", ".join(f"<code>{e(i)}</code>" for i in items) or f'<span class="empty">{empty}</span>'

    rows = [("Project", f"<code>{e(report.root)}</code>"),
            ("Spec", f"<code>{e(spec['origin'])}</code>" if spec.get("origin") else "none: inferred from the code")]
    for key in ("model", "data", "metrics"):
        value = spec.get(key)
        if value:
            rows.append((f"Required {key}", codes(value if isinstance(value, list) else [value])))
    rows += [("Files analysed", f"{s['files_analysed']} (unreadable: {s['files_unreadable']})"),
             ("Training entry points", codes(s["entry_points"])),
             ("Trained module classes", codes(s["trained_classes"]))]
    if series is not None:
        files = series.get("files", [])
        rows.append(("Log files", codes([f"{f.get('path')} ({f.get('format')})" for f in files], "none")))
        rows.append(("Scalar series", f"{len(series.get('series', []))}, at most {series.get('max_points')} points "
                                      "each kept for the report (first, last, minimum, maximum and NaN/Inf kept)"))
    rows.append(("Tool", f"trainaudit {e(report.tool_version)}, report schema {e(report.schema_version)}"))
    out = ['<dl class="facts">' + "".join(f"<dt>{k}</dt><dd>{v}</dd>" for k, v in rows) + "</dl>"]
    if report.inferred:
        out.append("<h3>Inferred</h3><ul>" + "".join(f"<li>{e(n)}</li>" for n in report.inferred) + "</ul>")
    for name, value in extra.items():
        text = json.dumps(_clean(value), indent=2, default=str, ensure_ascii=False)
        out.append(f"<details><summary>{e(name)} (evidence section)</summary><pre>{e(text)}</pre></details>")
    return "".join(out)


def render_html(report: Report) -> str:
    """One HTML5 file, no script and no external resource: it opens the same offline, years later."""
    name = Path(report.root).name or report.root
    verdict = report.verdict.value
    s = report.summary
    sections = dict(report.sections)
    series = sections.pop("series", None)
    claims = sections.pop("claims", None)
    known = {src for src, _ in SECTIONS}
    groups = [(src, title, [f for f in report.findings if f.source == src]) for src, title in SECTIONS]
    groups.append(("other", "Other Evidence", [f for f in report.findings if f.source not in known]))

    body: list[str] = []
    toc: list[tuple[str, str]] = []
    for src, title, items in groups:
        if src == "logs" and (items or series):
            content = _logs_section(items, series)
        elif items:
            content = _findings_table(items)
        else:
            continue
        count = f" ({len(items)})" if items else ""
        toc.append((f"src-{src}", title))
        body.append(f'<section id="src-{src}" aria-labelledby="h-{src}"><h2 id="h-{src}">{e(title)}{count}</h2>'
                    f"{content}</section>")
    if not report.findings:
        toc.insert(0, ("findings", "Findings"))
        body.insert(0, '<section id="findings" aria-labelledby="h-findings"><h2 id="h-findings">Findings</h2>'
                       '<p class="empty">No finding in any evidence source.</p></section>')
    if claims:
        toc.append(("claims", "Status Documents: Claims"))
        body.append(f'<section id="claims" aria-labelledby="h-claims"><h2 id="h-claims">Status Documents: Claims'
                    f"</h2>{_claims_section(claims)}</section>")
    toc += [("next", "Next Steps"), ("read", "What Was Read")]
    body.append(f'<section id="next" aria-labelledby="h-next"><h2 id="h-next">Next Steps</h2>'
                f"{_next_steps(report)}</section>")
    body.append(f'<section id="read" aria-labelledby="h-read"><h2 id="h-read">What Was Read</h2>'
                f"{_what_was_read(report, series, sections)}</section>")

    counts = [_count(s["errors"], "error"), _count(s["warnings"], "warning"), _count(s["infos"], "info"),
              _count(s["files_analysed"], "file") + " analysed"]
    if series is not None:
        counts.append(f"{len(series.get('series', []))} series plotted")
    reasons = "".join(f"<li>{e(r)}</li>" for r in report.reasons)
    nav = "".join(f'<a href="#{i}">{e(t)}</a>' for i, t in toc)
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{_CSP}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<meta name="generator" content="trainaudit">'
        '<link rel="icon" href="data:,">'
        f"<title>trainaudit: {e(name)} is {verdict.upper()}</title><style>{_CSS}</style></head>\n"
        f'<body><header class="banner {verdict}" role="banner"><div>'
        '<p class="kicker">Training audit verdict</p>'
        f'<h1><span class="verdict" id="verdict">{verdict.upper()}</span><code>{e(name)}</code></h1>'
        f'<p class="headline">{e(_HEADLINE[report.verdict])}</p>'
        f'<ul class="reasons" aria-label="Reasons">{reasons}</ul>'
        f'<ul class="counts" aria-label="Counts">{"".join(f"<li>{c}</li>" for c in counts)}</ul>'
        f'<nav class="toc" aria-label="Contents">{nav}</nav>'
        "</div></header>\n"
        f"<main>{''.join(body)}"
        f"<footer>Generated by trainaudit {e(report.tool_version)} from <code>{e(report.root)}</code>. "
        "Self-contained: no script, no network.</footer></main></body></html>\n"
    )
