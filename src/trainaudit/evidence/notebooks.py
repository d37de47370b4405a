"""Read a Jupyter notebook's code cells into one parsable text with a map back to cell and line."""

from __future__ import annotations

import json
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


def _neutralise(line: str) -> str:
    """IPython magics and shell escapes are not Python; keep the line count, drop the content."""
    stripped = line.lstrip()
    if stripped.startswith(("%", "!", "?")):
        indent = line[: len(line) - len(stripped)]
        return indent + "pass  # ipython magic"
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
        for i, line in enumerate(cell_lines):
            lines.append("pass  # cell magic" if in_cell_magic and line.strip() else _neutralise(line))
            line_map.append((code_index, i + 1))
        code_index += 1
    return NotebookText("\n".join(lines) + "\n", tuple(line_map))
