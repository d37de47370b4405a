"""The finished audit as one plain value: verdict, reasons, findings, summary, rule metadata."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from trainaudit import __version__
from trainaudit.finding import Finding, Severity
from trainaudit.verdict import ExitCode, Verdict, exit_code

if TYPE_CHECKING:
    from trainaudit.context import AuditContext
    from trainaudit.rules.registry import Rule

SCHEMA_VERSION = "1.0"


@dataclass(frozen=True)
class RuleInfo:
    code: str
    slug: str
    family: str
    severity: str
    summary: str
    remedy: str


@dataclass
class Report:
    root: str
    verdict: Verdict
    reasons: list[str]
    findings: list[Finding]
    rules: list[RuleInfo]
    spec: dict[str, Any]
    inferred: list[str] = field(default_factory=list)
    facts: dict[str, Any] = field(default_factory=dict)  # what was read: files, entry points, trained classes
    sections: dict[str, Any] = field(default_factory=dict)  # extra evidence tables (claims, series) by name
    tool_version: str = __version__
    schema_version: str = SCHEMA_VERSION

    @property
    def exit_code(self) -> ExitCode:
        return exit_code(self.verdict)

    @property
    def summary(self) -> dict[str, Any]:
        by_sev = Counter(f.severity.value for f in self.findings)
        return {
            "findings": len(self.findings),
            "errors": by_sev.get(Severity.ERROR.value, 0),
            "warnings": by_sev.get(Severity.WARNING.value, 0),
            "infos": by_sev.get(Severity.INFO.value, 0),
            "by_rule": dict(sorted(Counter(f.rule for f in self.findings).items())),
            **self.facts,
        }

    def rule(self, slug: str) -> RuleInfo | None:
        return next((r for r in self.rules if r.slug == slug), None)

    def next_steps(self) -> list[str]:
        """One step per rule that fired (most severe first, spec names in `backticks`), then missing evidence."""
        fired = dict.fromkeys(f.rule for f in sorted(self.findings, key=Finding.sort_key)
                              if f.severity is not Severity.INFO)
        steps = [self._remedy(r.remedy) for slug in fired if (r := self.rule(slug)) and r.remedy]
        if self.verdict is Verdict.INCONCLUSIVE:
            steps += [f"Provide the missing evidence: {reason}." for reason in self.reasons]
        return steps

    def _remedy(self, text: str) -> str:
        spec = self.spec
        return text.format(
            model=f" (`{spec['model']}`)" if spec.get("model") else "",
            data=f" (`{spec['data']}`)" if spec.get("data") else "",
            metrics=f" ({', '.join(spec['metrics'])})" if spec.get("metrics") else "",
        )

    @classmethod
    def build(cls, ctx: AuditContext, rules: list[Rule], findings: list[Finding], verdict: Verdict,
              reasons: list[str]) -> Report:
        program = ctx.source
        training = program.training
        inferred = list(ctx.inferred)
        if not ctx.spec.origin:
            inferred.append("no spec found: the required model, data and metrics were inferred from the code")
            if program.entry_files:
                inferred.append("training entry points inferred: " + ", ".join(f.path for f in program.entry_files))
        trained = sorted(training.trained_classes())
        facts = {
            "files_analysed": len(program.parsed),
            "files_unreadable": len(program.failed),
            "entry_points": [f.path for f in program.entry_files],
            "trained_classes": trained,
        }
        return cls(
            root=str(ctx.root),
            verdict=verdict,
            reasons=reasons,
            findings=findings,
            rules=[RuleInfo(r.code, r.slug, r.family, r.severity.value, r.summary, r.remedy) for r in rules],
            spec=ctx.spec.as_dict(),
            inferred=inferred,
            facts=facts,
            sections=dict(ctx.report_sections),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema_version": self.schema_version,
            "tool": {"name": "trainaudit", "version": self.tool_version},
            "root": self.root,
            "verdict": self.verdict.value,
            "exit_code": int(self.exit_code),
            "reasons": self.reasons,
            "findings": [finding_dict(f) for f in self.findings],
            "summary": self.summary,
            "inferred": self.inferred,
            "spec": self.spec,
            **{name: value for name, value in self.sections.items()},
        }


def finding_dict(f: Finding) -> dict[str, Any]:
    out: dict[str, Any] = {
        "rule": f.rule,
        "code": f.code,
        "severity": f.severity.value,
        "message": f.message,
        "path": f.location.path,
        "line": f.location.line,
        "source": f.source,
        "evidence": f.evidence,
        "fingerprint": f.fingerprint(),
    }
    if f.location.cell is not None:
        out["cell"] = f.location.cell + 1
        out["cell_line"] = f.location.cell_line
    return out
