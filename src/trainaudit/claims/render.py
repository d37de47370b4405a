"""Render a ClaimsResult as text, JSON or Markdown: a claims table and a one-line summary."""

from __future__ import annotations

import json

from trainaudit.claims.model import RANK, ClaimsResult


def _rows(result: ClaimsResult) -> list[tuple[str, str, str, str]]:
    rows = []
    for c in sorted(result.claims, key=lambda c: (RANK[c.status], c.path, c.line)):
        what = c.text if len(c.text) <= 90 else c.text[:87] + "..."
        rows.append((what, f"{c.path}:{c.line}", c.status, "; ".join(c.evidence)))
    return rows


def _doc_notes(result: ClaimsResult) -> list[str]:
    out = []
    for d in result.documents:
        bits = [b for b in (d.skipped and f"skipped: {d.skipped}", d.repaired, *d.notes) if b]
        if d.encoding != "utf-8":
            bits.insert(0, f"read as {d.encoding}")
        out.append(f"{d.path}: " + ("; ".join(bits) if bits else f"{d.lines} lines"))
    return out


def render_text(result: ClaimsResult) -> str:
    lines = [result.summary(), ""]
    lines += ["Documents:"] + [f"  {n}" for n in _doc_notes(result)]
    if result.tests_run is not None:
        tr = result.tests_run
        lines.append("Test run: " + (tr.get("error") or f"{tr.get('passed', 0)} passed, {tr.get('failed', 0)} failed"))
    if result.issues:
        lines += ["", "Problems:"]
        for i in result.issues:
            sev = i.severity or {"claim-inconsistent": "error", "claim-contradicted": "error"}.get(i.rule, "warning")
            lines.append(f"  {i.path}:{i.line}: {sev}: [{i.rule}] {i.message}")
    rows = _rows(result)
    if rows:
        lines += ["", "Claims:"]
        for what, where, status, ev in rows:
            lines.append(f"  {status:<12} {where:<40} {what}" + (f"\n               -> {ev}" if ev else ""))
    return "\n".join(lines) + "\n"


def _md_cell(s: str) -> str:
    return s.replace("|", "\\|").replace("\n", " ")


def render_markdown(result: ClaimsResult) -> str:
    out = ["## Claims", "", f"**{result.summary()}**", ""]
    out += [f"- {_md_cell(n)}" for n in _doc_notes(result)]
    if result.issues:
        out += ["", "### Problems", ""]
        out += [f"- `{i.path}:{i.line}` **{i.rule}**: {_md_cell(i.message)}" for i in result.issues]
    rows = _rows(result)
    if rows:
        out += ["", "| Claim | Where | Status | Evidence |", "| --- | --- | --- | --- |"]
        out += [f"| {_md_cell(a)} | `{b}` | {c} | {_md_cell(d)} |" for a, b, c, d in rows]
    return "\n".join(out) + "\n"


def render_claims(result: ClaimsResult, fmt: str = "text") -> str:
    if fmt == "json":
        return json.dumps(result.to_dict(), indent=2, ensure_ascii=False) + "\n"
    if fmt == "markdown":
        return render_markdown(result)
    if fmt == "text":
        return render_text(result)
    raise ValueError(f"unknown format {fmt!r} (text, json, markdown)")
