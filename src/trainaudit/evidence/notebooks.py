"""Read a Jupyter notebook's code cells into one parsable text with a map back to cell and line."""

from __future__ import annotations

import io
import json
import re
import tokenize
from dataclasses import dataclass


class NotebookError(ValueError):
    """The file is not a notebook we can read."""


@dataclass(frozen=True)
class NotebookText:
    text: str
    line_map: tuple[tuple[int, int], ...]  # combined line (index+1) -> (code cell index, line in cell)


def _cell_source(cell: dict) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else str(src)


# `files = !ls`, `t = %timeit -o f()`: IPython's assignment forms keep their target.
_MAGIC_ASSIGN = re.compile(r"(\s*)([A-Za-z_][\w.]*(?:\s*,\s*[A-Za-z_][\w.]*)*)\s*=\s*[%!]")


def _statement_starts_after(lines: list[str]) -> bool:
    """Does a new statement start after these lines? Not when they end inside brackets, a string or after a
    backslash: there IPython reads `%` and `!` as Python (`% (a, b)` formats a string), and so do we."""
    try:
        for _ in tokenize.generate_tokens(io.StringIO("\n".join(lines) + "\n").readline):
            pass
    except tokenize.TokenError:
        return False
    except SyntaxError:  # inconsistent indentation: the cell does not parse whatever this line is
        return True
    return True


def _neutralise(line: str, before: list[str]) -> str:
    """IPython magics and shell escapes are not Python; keep the line count, drop the content. `before` holds the
    cell's lines so far, as rewritten: a magic only starts a statement."""
    stripped = line.lstrip()
    if stripped.startswith(("%", "!", "?")):
        if _statement_starts_after(before):
            return line[: len(line) - len(stripped)] + "pass  # ipython magic"
    elif "=" in line and (m := _MAGIC_ASSIGN.match(line)) and _statement_starts_after(before):
        return f"{m.group(1)}{m.group(2)} = None  # ipython magic"
    return line


def read_notebook(raw: str) -> NotebookText:
    try:
        doc = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise NotebookError(f"not valid notebook JSON: {exc.msg} at line {exc.lineno}") from None
    cells = doc.get("cells") if isinstance(doc, dict) else None
    if not isinstance(cells, list):
        raise NotebookError("no 'cells' list: not an nbformat 4 notebook")
    lines: list[str] = []
    line_map: list[tuple[int, int]] = []
    code_index = 0
    for cell in cells:
        if not isinstance(cell, dict) or cell.get("cell_type") != "code":
            continue
        src = _cell_source(cell)
        cell_lines = src.split("\n")
        if cell_lines and cell_lines[-1] == "":
            cell_lines.pop()
        in_cell_magic = bool(cell_lines) and cell_lines[0].lstrip().startswith("%%")
        rewritten: list[str] = []
        for i, line in enumerate(cell_lines):
            rewritten.append("pass  # cell magic" if in_cell_magic and line.strip() else _neutralise(line, rewritten))
            line_map.append((code_index, i + 1))
        lines += rewritten
        code_index += 1
    return NotebookText("\n".join(lines) + "\n", tuple(line_map))
