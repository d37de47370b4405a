"""Markdown structure with line numbers: headings, list items, table rows and paragraph lines, code skipped."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cached_property

from markdown_it import MarkdownIt

MAX_BLOCKS = 50_000  # caps work on pathological documents (huge tables, millions of items)


@dataclass
class Block:
    """One physical line of prose that may carry claims, with the structure around it."""

    kind: str  # heading | item | para | row
    line: int  # 1-based line in the document
    raw: str  # inline Markdown source of this line
    headings: tuple[tuple[int, str], ...] = ()  # enclosing headings (level, plain text), outermost first
    parents: tuple[str, ...] = ()  # plain text of enclosing list items, outermost first
    level: int = 0  # heading level, or list depth for items
    list_key: int | None = None  # the list an item belongs to: items with one key are siblings
    first: bool = True  # first line of its item or paragraph (continuation lines are False)
    cells: tuple[str, ...] = ()  # table row cells, plain
    header: tuple[str, ...] = ()  # the table's header cells, plain
    table_key: int | None = None
    index: int = 0  # position among all blocks
    next_list: int | None = None  # for a paragraph/item line ending with ':', the list that follows it

    @cached_property
    def text(self) -> str:
        """The line without Markdown emphasis; every extractor reads it, so it is computed once."""
        return plain(self.raw)


@dataclass
class Structure:
    blocks: list[Block] = field(default_factory=list)
    truncated: bool = False
    code_lines: int = 0
    notes: list[str] = field(default_factory=list)


_EMPH = re.compile(r"(\*\*|__|~~)")
_LINK = re.compile(r"!?\[([^\]]*)\]\([^)]*\)")


def plain(raw: str) -> str:
    """Emphasis and link syntax removed; backticks kept because they mark file and code references."""
    s = _LINK.sub(r"\1", raw)
    s = _EMPH.sub("", s)
    s = re.sub(r"(?<![\w*])\*(?=\S)([^*]+?)(?<=\S)\*(?![\w*])", r"\1", s)
    return s.strip()


def _parser() -> MarkdownIt:
    md = MarkdownIt("commonmark", {"maxNesting": _MAX_NESTING})
    md.enable(["table", "strikethrough"])
    return md


_MAX_NESTING = 40  # markdown-it's guard against deep recursion; it stops parsing where it is exceeded


def parse(text: str) -> Structure:
    tokens = _parser().parse(text)
    out = Structure()
    _walk(tokens, out)
    # Past the nesting limit markdown-it drops the rest of the document: read that rest line by line.
    total = text.count("\n") + (0 if text.endswith("\n") else 1)
    leaves = ("inline", "fence", "code_block", "html_block", "hr", "tr_open")
    end = max((t.map[1] for t in tokens if t.map and t.type in leaves), default=0)
    if end < total and text[_offset(text, end):].strip():
        out.notes.append(f"Markdown nested deeper than {_MAX_NESTING} levels near line {end + 1}: "
                         "the rest was read line by line")
        _plain_lines(text, end, out)
    return out


def _offset(text: str, line: int) -> int:
    pos = 0
    for _ in range(line):
        pos = text.find("\n", pos) + 1
        if pos == 0:
            return len(text)
    return pos


def _plain_lines(text: str, start: int, out: Structure) -> None:
    in_fence = False
    for n, raw in enumerate(text[_offset(text, start):].split("\n"), start + 1):
        stripped = raw.strip()
        if stripped.startswith(("```", "~~~")):
            in_fence = not in_fence
            continue
        if in_fence or not stripped:
            continue
        if len(out.blocks) >= MAX_BLOCKS:
            out.truncated = True
            return
        content = re.sub(r"^(?:[>\s]*(?:[-*+]|\d+[.)])?\s*)", "", raw).strip().strip("|").strip()
        out.blocks.append(Block("para", n, content, index=len(out.blocks)))


def _walk(tokens, out: Structure) -> None:
    headings: list[tuple[int, str]] = []
    items: list[str] = []  # enclosing list-item first lines
    lists: list[int] = []  # enclosing list keys
    list_counter = 0
    table_counter = 0
    header: tuple[str, ...] = ()
    row_cells: list[str] = []
    row_line = 0
    in_thead = False
    item_has_text: list[bool] = []
    pending_colon: Block | None = None

    def add(block: Block) -> None:
        if len(out.blocks) >= MAX_BLOCKS:
            out.truncated = True
            return
        block.index = len(out.blocks)
        out.blocks.append(block)

    i = 0
    while i < len(tokens):
        tok = tokens[i]
        t = tok.type
        if t in ("fence", "code_block"):
            if tok.map:
                out.code_lines += tok.map[1] - tok.map[0]
        elif t == "heading_open":
            level = int(tok.tag[1])
            inline = tokens[i + 1]
            txt = plain(inline.content)
            while headings and headings[-1][0] >= level:
                headings.pop()
            add(Block("heading", (tok.map[0] + 1) if tok.map else 0, inline.content, tuple(headings), level=level))
            headings.append((level, txt))
            pending_colon = out.blocks[-1] if inline.content.rstrip().endswith(":") and out.blocks else None
            i += 2
        elif t in ("bullet_list_open", "ordered_list_open"):
            list_counter += 1
            lists.append(list_counter)
            if pending_colon is not None:
                pending_colon.next_list = list_counter
                pending_colon = None
        elif t in ("bullet_list_close", "ordered_list_close"):
            if lists:
                lists.pop()
        elif t == "list_item_open":
            items.append("")
            item_has_text.append(False)
        elif t == "list_item_close":
            if items:
                items.pop()
                item_has_text.pop()
        elif t == "table_open":
            table_counter += 1
            header = ()
        elif t == "thead_open":
            in_thead = True
        elif t == "thead_close":
            in_thead = False
        elif t == "tr_open":
            row_cells = []
            row_line = (tok.map[0] + 1) if tok.map else 0
        elif t == "inline" and tokens[i - 1].type in ("th_open", "td_open"):
            row_cells.append(plain(tok.content))
        elif t == "tr_close":
            if in_thead:
                header = tuple(row_cells)
            else:
                raw = " | ".join(row_cells)
                add(Block("row", row_line, raw, tuple(headings), tuple(items), cells=tuple(row_cells),
                          header=header, table_key=table_counter))
        elif t == "inline" and tokens[i - 1].type == "paragraph_open":
            start = tokens[i - 1].map[0] + 1 if tokens[i - 1].map else 0
            in_item = bool(items) and not item_has_text[-1]
            parents = tuple(p for p in items[:-1]) if in_item else tuple(items)
            for k, raw_line in enumerate(tok.content.split("\n")):
                if not raw_line.strip():
                    continue
                is_item_line = in_item and k == 0
                block = Block(
                    "item" if in_item else "para", start + k, raw_line, tuple(headings), parents,
                    level=len(lists) if in_item else 0, list_key=lists[-1] if in_item and lists else None,
                    first=k == 0,
                )
                add(block)
                if is_item_line:
                    items[-1] = block.text
            if in_item:
                item_has_text[-1] = True
            last = out.blocks[-1] if out.blocks else None
            pending_colon = last if last is not None and last.raw.rstrip().endswith(":") else None
        elif t in ("hr", "html_block"):
            pending_colon = None
        i += 1
