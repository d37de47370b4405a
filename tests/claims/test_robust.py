"""Inputs that are not ordinary status documents get a clear result, with work capped."""

from __future__ import annotations

from trainaudit.claims import check_documents
from trainaudit.claims.encoding import MAX_BYTES, repair_mojibake
from trainaudit.claims.structure import MAX_BLOCKS


def test_empty_and_claimless_documents(tmp_path):
    empty = tmp_path / "STATUS.md"
    empty.write_text("")
    prose = tmp_path / "NOTES.md"
    prose.write_text("# Notes\n\nWe met and talked about the weather.\n\n```python\nprint('Sprint 1 COMPLETE')\n```\n")
    result = check_documents([empty, prose])
    assert result.claims == [] and result.issues == []
    assert result.summary() == "0 claims found"
    assert result.documents[0].notes == ["no claims found"]
    assert result.documents[1].notes == ["3 lines of code blocks skipped", "no claims found"]


def test_binary_file(tmp_path):
    path = tmp_path / "REPORT.md"
    path.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)))
    result = check_documents([path])
    assert result.documents[0].skipped == "binary file (NUL bytes), not a text document"
    assert result.claims == []


def test_fifty_megabyte_file_is_refused_by_size(tmp_path):
    path = tmp_path / "PROGRESS.md"
    line = b"- [x] S1.1.1: COMPLETE with 12/12 tests passing\n"
    with path.open("wb") as fh:
        for _ in range(50_000_000 // len(line) + 1):
            fh.write(line)
    result = check_documents([path])
    assert result.documents[0].skipped == f"50.0 MB exceeds the {MAX_BYTES / 1e6:.0f} MB cap for status documents"
    assert result.claims == []


def test_missing_file(tmp_path):
    result = check_documents([tmp_path / "nope.md"])
    assert result.documents[0].skipped.startswith("cannot read")


def test_pathological_markdown_completes_with_caps(tmp_path):
    deep = "".join("  " * i + "- level\n" for i in range(300)) + "> " * 200 + "quote\n"
    rows = "| a | b |\n|---|---|\n" + "".join(f"| Sprint {i} | COMPLETE |\n" for i in range(MAX_BLOCKS + 10))
    path = tmp_path / "STATUS.md"
    path.write_text(deep + "\n" + rows)
    result = check_documents([path])
    doc = result.documents[0]
    assert doc.skipped is None
    assert "document too large or deeply structured: analysis was capped" in doc.notes
    assert "Markdown nested deeper than 40 levels near line 20: the rest was read line by line" in doc.notes
    assert result.issues == []


def test_non_utf8_document_is_read(tmp_path):
    path = tmp_path / "STATUS.txt"
    path.write_bytes("Sprint 1: COMPLETE – caf\xe9\n".encode("cp1252"))
    result = check_documents([path])
    assert result.documents[0].encoding == "cp1252 (not valid UTF-8)"
    assert [(c.subject, c.value) for c in result.claims] == [("Sprint 1", "done")]


def test_mojibake_repair_both_code_pages_and_leaves_real_text_alone():
    good = "✅ done — β-VAE, naïve café ≥ 50%"
    mac = good.encode("utf-8").decode("mac_roman")
    win = good.encode("utf-8").decode("cp1252", errors="replace")
    assert repair_mojibake(mac)[0] == good
    fixed, note = repair_mojibake(win)
    assert fixed == good and note.endswith("(UTF-8 read as Windows-1252)")
    assert repair_mojibake(good) == (good, None)
    assert repair_mojibake("Zürich, Ångström, São Paulo") == ("Zürich, Ångström, São Paulo", None)
