"""SARIF 2.1.0 rendering, with rule metadata from the registry, for code-scanning services."""

from __future__ import annotations

import json

from trainaudit.finding import Finding
from trainaudit.report.json_report import _clean
from trainaudit.report.model import Report

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
_LEVEL = {"error": "error", "warning": "warning", "info": "note"}


def _result(f: Finding, rule_index: dict[str, int]) -> dict:
    region = {"startLine": max(1, f.location.line or 1)}
    result = {
        "ruleId": f.code,
        "ruleIndex": rule_index[f.code],
        "level": _LEVEL[f.severity.value],
        "message": {"text": f.message},
        "locations": [{"physicalLocation": {
            "artifactLocation": {"uri": f.location.path, "uriBaseId": "%SRCROOT%"},
            "region": region,
        }}],
        "partialFingerprints": {"trainaudit/v1": f.fingerprint()},
        "properties": {"slug": f.rule, "source": f.source, "evidence": f.evidence},
    }
    return result


def render_sarif(report: Report) -> str:
    rules = [
        {
            "id": r.code,
            "name": r.slug,
            "shortDescription": {"text": r.summary},
            "fullDescription": {"text": r.summary},
            "help": {"text": r.remedy or r.summary},
            "defaultConfiguration": {"level": _LEVEL[r.severity]},
            "properties": {"tags": [r.family]},
        }
        for r in report.rules
    ]
    index = {r.code: i for i, r in enumerate(report.rules)}
    located = [f for f in report.findings if f.location.path not in ("", ".") and f.code in index]
    unlocated = [f for f in report.findings if f not in located]
    run = {
        "tool": {"driver": {"name": "trainaudit", "version": report.tool_version,
                            "informationUri": "https://pypi.org/project/trainaudit/", "rules": rules}},
        "originalUriBaseIds": {"%SRCROOT%": {"uri": "file://" + report.root.rstrip("/") + "/"}},
        "results": [_result(f, index) for f in located],
        "invocations": [{
            "executionSuccessful": True,
            "toolExecutionNotifications": [
                {"level": _LEVEL[f.severity.value], "message": {"text": f"{f.code} {f.rule}: {f.message}"}}
                for f in unlocated
            ],
        }],
        "properties": {"verdict": report.verdict.value, "reasons": report.reasons},
    }
    doc = {"$schema": SARIF_SCHEMA, "version": "2.1.0", "runs": [run]}
    return json.dumps(_clean(doc), indent=2, default=str) + "\n"
