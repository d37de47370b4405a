"""Reading a project: which trees are kept, and the per-file facts that spare the checks parsing the others."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from harness import check_project, write_project

from trainaudit.evidence import parallel, program, source
from trainaudit.evidence.source import load_source

ROOT = Path(__file__).parent


def _loaded(root: Path) -> list[source.SourceFile]:
    return [load_source(root, p.relative_to(root).as_posix()) for p in sorted(root.rglob("*.py"))]


def test_reading_keeps_training_files_and_the_modules_they_import(tmp_path):
    write_project(tmp_path, {
        "scripts/train.py": """
            import torch
            import pkg
            from src.pkg.data import load
            from common import seed
            from . import (
                losses as L,
            )
            loss = L.ce(pkg.Net()(load()))
            loss.backward()
        """,
        "scripts/__init__.py": "",
        "scripts/common.py": "def seed():\n    return 0\n",  # a sibling, imported as a script imports one
        "scripts/losses.py": "def ce(x):\n    return x\n",  # relative import
        "scripts/notes.py": "def unused():\n    return 1\n",
        "src/pkg/__init__.py": "from .nets import Net\n",  # kept: imported; its re-export is followed
        "src/pkg/nets.py": "import torch\nclass Net(torch.nn.Module):\n    pass\n",
        "src/pkg/data.py": "def load():\n    return []\n",  # `src.` as the project spells it
        "src/pkg/zoo.py": "import torch\nclass Other(torch.nn.Module):\n    pass\n",  # a model nothing imports
    })
    files = _loaded(tmp_path)
    keep = program.likely_read(files)
    assert sorted(sf.path for sf in files if keep(sf)) == [
        "scripts/__init__.py", "scripts/common.py", "scripts/losses.py", "scripts/train.py",
        "src/pkg/__init__.py", "src/pkg/data.py", "src/pkg/nets.py",
    ]


ZOO_MODEL = """
import torch.nn as nn


class Layer{i}(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(8, 8)
        self.norm = nn.LayerNorm(8)

    def forward(self, x):
        h = self.fc(x)
        h = self.norm(h)
        return x + h
"""


MODELS = """
import torch
import torch.nn as nn


class GraphEncoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(16, 8)

    def forward(self, g):
        return self.fc(g)


class ImageEncoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(32, 8)

    def forward(self, x):
        unused = self.fc(x)  # expect: discarded-output
        return self.fc(x)


class Hybrid(nn.Module):
    def __init__(self):
        super().__init__()
        self.graph = GraphEncoder()
        self.image = ImageEncoder()
        self.head = nn.Linear(16, 1)

    def forward(self, g, x):
        return self.head(torch.cat([self.graph(g), self.image(x)], 1))
"""
TRAIN_PARTS = """
import numpy as np
import torch
import torch.nn.functional as F

from models import GraphEncoder, ImageEncoder

data = np.load("data/train.npz")
g, x, y = (torch.from_numpy(data[k]) for k in ("g", "x", "y"))
gnn, vit = GraphEncoder(), ImageEncoder()
opt_g = torch.optim.Adam(gnn.parameters())  # expect: isolated-training
opt_v = torch.optim.Adam(vit.parameters())  # expect: isolated-training
for epoch in range(50):
    loss_g = F.mse_loss(gnn(g).mean(1), y)
    opt_g.zero_grad()
    loss_g.backward()
    opt_g.step()
for epoch in range(50):
    loss_v = F.mse_loss(vit(x).mean(1), y)
    opt_v.zero_grad()
    loss_v.backward()
    opt_v.step()
"""


@pytest.mark.parametrize("where", ["models.py", "zoo/composite.py"])
def test_checks_that_read_every_model_parse_no_file_again(tmp_path, monkeypatch, where):
    """isolated-training reads what every module class holds and discarded-output every forward: from the facts
    of files whose trees were dropped, not by parsing them again, and with the same findings. A composite in a file
    the training script does not import is parsed again, only to confirm what Flow finds it holds."""
    files = {f"zoo/layer{i}.py": ZOO_MODEL.format(i=i) for i in range(6)}
    if where == "models.py":
        files |= {"models.py": MODELS, "train_parts.py": TRAIN_PARTS}
    else:  # the composite in a file nothing imports: its finding comes from facts alone
        encoders, composite = MODELS.split("class Hybrid")
        files |= {"models.py": encoders, "train_parts.py": TRAIN_PARTS,
                  where: "from models import GraphEncoder, ImageEncoder\n" + encoders.split("\n\n\n")[0]
                  + "\n\n\nclass Hybrid" + composite}
    write_project(tmp_path, files)
    reparsed: list[str] = []
    tree = source.SourceFile.tree.fget

    def counting(sf):
        if sf._tree is None and sf.parsed:
            reparsed.append(sf.path)
        return tree(sf)

    kept: list[str] = []
    parse = parallel.parse_source

    def keeping(sf, keep):
        if keep:
            kept.append(sf.path)
        parse(sf, keep)

    monkeypatch.setattr(source.SourceFile, "tree", property(counting))
    monkeypatch.setattr(parallel, "parse_source", keeping)
    report = check_project(tmp_path, {"isolated-training", "discarded-output"})
    assert sorted(kept) == ["models.py", "train_parts.py"]
    assert reparsed == ([] if where == "models.py" else [where])
    assert report.summary["files_analysed"] == len(files)


def test_a_fact_is_the_same_computed_when_parsed_or_later_from_the_kept_tree(tmp_path):
    write_project(tmp_path, {"m.py": ZOO_MODEL.format(i=0) + """

class Drops(nn.Module):
    def forward(self, x):
        unused = self.enc(x)
        self.head(x)
        return x
"""})
    dropped, kept = load_source(tmp_path, "m.py"), load_source(tmp_path, "m.py")
    source.parse_source(dropped, keep=False)
    source.parse_source(kept, keep=True)
    assert kept.facts == {}  # computed on first use
    assert set(dropped.facts) == set(source.FILE_FACTS) >= {"forwards-dropping", "self-assigned"}
    for name, value in dropped.facts.items():
        assert kept.fact(name) == value, name
    assert dropped.facts["forwards-dropping"] == frozenset({(2, 0)})  # Drops.forward, not Layer0.forward


def test_a_fact_that_failed_when_parsed_is_computed_from_the_tree_when_asked(tmp_path, monkeypatch):
    calls: list[str] = []

    def flaky(sf: source.SourceFile, tree: ast.Module) -> int:
        calls.append(sf.path)
        if len(calls) == 1:
            raise RecursionError("a fact's walk ran out of stack")
        return len(tree.body)

    monkeypatch.setitem(source.FILE_FACTS, "flaky", flaky)
    (tmp_path / "m.py").write_text("x = 1\ny = 2\n")
    sf = load_source(tmp_path, "m.py")
    source.parse_source(sf, keep=False)
    assert sf.parsed and "flaky" not in sf.facts
    assert sf.fact("flaky") == 2
    assert calls == ["m.py", "m.py"]


@pytest.mark.parametrize("keep", [True, False])
def test_a_walrus_anywhere_in_the_file_leaves_self_assignments_to_flow(tmp_path, keep):
    write_project(tmp_path, {"m.py": """
        import torch.nn as nn

        class Net(nn.Module):
            def __init__(self, width):
                super().__init__()
                self.fc = nn.Linear(width, 2)
                self.scale = 2.0

            def forward(self, x):
                if (n := x.shape[0]) > 1:
                    return self.fc(x) / n
                return self.fc(x)
    """})
    sf = load_source(tmp_path, "m.py")
    source.parse_source(sf, keep=keep)
    assert sf.fact("self-assigned") == {(1, 0): None}
    (tmp_path / "m.py").write_text((tmp_path / "m.py").read_text().replace("(n := x.shape[0])", "x.shape[0]")
                                   .replace("/ n", ""))
    sf = load_source(tmp_path, "m.py")
    source.parse_source(sf, keep=keep)
    assert sf.fact("self-assigned") == {(1, 0): (("torch.nn.Linear", False, 6),)}


def test_a_main_guard_is_an_equality_with_main(tmp_path):
    from trainaudit.evidence.index import main_guard_lines

    (tmp_path / "m.py").write_text('if __name__ == "__main__":\n    run()\nif __name__ != "__main__":\n    setup()\n'
                                   "if '__main__' == __name__:\n    run()\n")
    sf = load_source(tmp_path, "m.py")
    source.parse_source(sf, keep=True)
    assert main_guard_lines(sf) == [(1, 2), (5, 6)]
