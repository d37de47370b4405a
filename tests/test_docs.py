"""The rule docs stay in step with the registry: every rule has a page and a row in the index."""

from __future__ import annotations

from pathlib import Path

from trainaudit.rules.registry import all_rules

DOCS = Path(__file__).resolve().parents[1] / "docs" / "rules"


def page_of(slug: str) -> Path:
    return DOCS / ("engine-rules.md" if slug in ("parse-error", "rule-crash", "spec-unresolved") else f"{slug}.md")


def test_every_rule_has_a_page_naming_its_code_and_slug():
    for rule in all_rules():
        text = page_of(rule.slug).read_text(encoding="utf-8")
        assert rule.code in text and f"`{rule.slug}`" in text, rule.slug


def test_index_lists_every_rule_with_its_severity():
    index = (DOCS / "index.md").read_text(encoding="utf-8")
    for rule in all_rules():
        row = f"| {rule.code} | [`{rule.slug}`]({page_of(rule.slug).name}) | {rule.severity.value} |"
        assert row in index, row
