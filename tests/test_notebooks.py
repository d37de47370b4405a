"""Notebook reading: IPython magics are dropped only where they start a statement, with cells and lines kept."""

from __future__ import annotations

import ast
import json
import textwrap
from pathlib import Path

from trainaudit import audit
from trainaudit.evidence.notebooks import read_notebook


def notebook(cells: list[str]) -> str:
    """nbformat-4 JSON: a markdown cell, then code cells of the given (dedented) sources as Jupyter stores them."""
    code = [textwrap.dedent(c).strip("\n") for c in cells]
    doc = {"nbformat": 4, "nbformat_minor": 5, "metadata": {},
           "cells": [{"cell_type": "markdown", "metadata": {}, "source": ["# Run\n"]}] + [
               {"cell_type": "code", "metadata": {}, "execution_count": None, "outputs": [],
                "source": [line + "\n" for line in c.split("\n")]} for c in code]}
    return json.dumps(doc)


def test_magics_that_start_a_statement_are_dropped_and_the_rest_is_python():
    nb = read_notebook(notebook([
        """
        %matplotlib inline
        !pip install torch
        files = !ls data
        t, u = %time f()
        """,
        """
        for i in range(3):
            print('Epoch %d | batch %d'
                  % (i, 2 * i))
            !nvidia-smi
        msg = 'a' \\
            % ()
        doc = '''
        %notmagic inside a string
        '''
        """,
    ]))
    assert nb.text.split("\n") == [
        "pass  # ipython magic",
        "pass  # ipython magic",
        "files = None  # ipython magic",
        "t, u = None  # ipython magic",
        "for i in range(3):",
        "    print('Epoch %d | batch %d'",
        "          % (i, 2 * i))",  # `%` continues the bracket: the modulo operator, as IPython reads it
        "    pass  # ipython magic",
        "msg = 'a' \\",
        "    % ()",  # after a backslash
        "doc = '''",
        "%notmagic inside a string",
        "'''",
        "",
    ]
    ast.parse(nb.text)
    assert nb.line_map[6] == (1, 3) and nb.line_map[7] == (1, 4)


def test_cell_magic_blanks_its_whole_cell():
    nb = read_notebook(notebook(["%%bash\necho hi\n\nls", "x = 1"]))
    assert nb.text.split("\n")[:5] == ["pass  # cell magic", "pass  # cell magic", "", "pass  # cell magic", "x = 1"]


TRAIN_CELL = """
import torch
model = torch.nn.Linear(784, 10)
opt = torch.optim.SGD(model.parameters(), lr=0.1)
for epoch in range(num_epochs):
    for batch_idx, (x, y) in enumerate(train_loader):
        loss = torch.nn.functional.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if not batch_idx % 50:
            print('Epoch: %03d | Batch %03d | Cost: %.4f'
                  % (epoch + 1, batch_idx, loss))
"""


def test_notebook_formatting_with_a_leading_percent_is_audited(tmp_path: Path):
    """The shape of a common tutorial notebook: before, the `% (...)` line read as a magic made the notebook
    unparsable, so it went unaudited behind a parse-error warning."""
    (tmp_path / "mlp.ipynb").write_text(notebook([
        "from torch.utils.data import DataLoader\ntrain_loader = DataLoader(data, batch_size=64)\nnum_epochs = 5",
        TRAIN_CELL,
        "with torch.no_grad():\n    print('Test accuracy: %.2f%%'\n          % accuracy(model, test_loader))",
    ]))
    report = audit(tmp_path)
    assert [(f.rule, f.location.cell, f.location.cell_line) for f in report.findings] == []
    assert report.verdict.value == "valid"


def test_notebook_still_audited_where_its_training_is_missing(tmp_path: Path):
    """The close bad case: the same notebook without an evaluation cell is analysed, and judged, in its cells."""
    (tmp_path / "mlp.ipynb").write_text(notebook([
        "from torch.utils.data import DataLoader\ntrain_loader = DataLoader(data, batch_size=64)\nnum_epochs = 5",
        TRAIN_CELL,
    ]))
    report = audit(tmp_path)
    assert [(f.rule, f.path, f.location.cell, f.location.cell_line) for f in report.findings] == [
        ("missing-metrics", "mlp.ipynb", 1, 4)]
