"""Static module structure: derived names and shapes equal the real torch state_dict."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import pytest
from ckpt_tools import write_project

from trainaudit.evidence.index import ProjectIndex
from trainaudit.evidence.module_shapes import ShapeDeriver, match
from trainaudit.evidence.source import read_source

ZOO = {
    "zoo/__init__.py": "",
    "zoo/consts.py": "WIDTH = 12\n",
    "zoo/blocks.py": """
        import torch
        import torch.nn as nn
        from collections import OrderedDict
        from zoo.consts import WIDTH

        class Block(nn.Module):
            def __init__(self, dim, hidden=WIDTH):
                super().__init__()
                self.norm = nn.LayerNorm(dim)
                self.ff = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Dropout(0.1), nn.Linear(hidden, dim))
                self.register_buffer("scale", torch.ones(dim))
                self.register_buffer("tmp", torch.zeros(3), persistent=False)

        class Base(nn.Module):
            def __init__(self, channels):
                super().__init__()
                self.stem = nn.Conv2d(3, channels, kernel_size=3, padding=1, bias=False)
                self.bn = nn.BatchNorm2d(channels)
    """,
    "zoo/models.py": """
        import torch
        from torch import nn
        from collections import OrderedDict
        from zoo.blocks import Base, Block

        class Zoo(Base):
            def __init__(self, channels=8, dim=16, depth=3):
                super().__init__(channels)
                inner = dim * 2
                self.blocks = nn.ModuleList([Block(dim) for _ in range(depth)])
                self.named = nn.Sequential(OrderedDict([("proj", nn.Linear(dim, inner)), ("act", nn.ReLU())]))
                self.conv1 = nn.Conv1d(4, 6, 5, groups=2)
                self.conv3 = nn.Conv3d(2, 4, (1, 2, 3))
                self.up = nn.ConvTranspose2d(4, 2, 2, stride=2)
                self.emb = nn.Embedding(50, dim)
                self.gn = nn.GroupNorm(2, 4)
                self.bn1 = nn.BatchNorm1d(5, affine=False)
                self.lstm = nn.LSTM(dim, 10, num_layers=2, bidirectional=True)
                self.gru = nn.GRU(4, 6, bias=False)
                self.attn = nn.MultiheadAttention(dim, 4)
                self.encoder = nn.TransformerEncoder(nn.TransformerEncoderLayer(dim, 2, dim_feedforward=24), 2)
                self.cls = nn.Parameter(torch.zeros(1, 1, dim))
                self.head = nn.Linear(inner if depth > 2 else dim, 3)
                self.layers = nn.ModuleDict({"a": nn.Linear(2, 2), "b": nn.Identity()})
    """,
}


@pytest.fixture()
def zoo(tmp_path: Path):
    root = write_project(tmp_path, ZOO)
    index = ProjectIndex([read_source(root, rel) for rel in ZOO])
    sys.path.insert(0, str(root))
    try:
        yield index, importlib.import_module("zoo.models")
    finally:
        sys.path.remove(str(root))
        for name in [m for m in sys.modules if m == "zoo" or m.startswith("zoo.")]:
            del sys.modules[name]


def test_derived_structure_equals_torch_state_dict(zoo) -> None:
    index, models = zoo
    structure = ShapeDeriver(index).structure(index.classes["zoo.models.Zoo"])
    real = {k: tuple(v.shape) for k, v in models.Zoo().state_dict().items()}
    assert structure.complete, structure.unresolved
    assert structure.tensors == real
    assert structure.parameter_count == sum(p.numel() for p in models.Zoo().parameters())
    assert match("Zoo", real, structure).exact


def test_call_site_arguments_and_unknown_layers(tmp_path: Path) -> None:
    files = {
        "net.py": """
            import timm
            import torch.nn as nn

            class Net(nn.Module):
                def __init__(self, n_in, n_out):
                    super().__init__()
                    self.fc = nn.Linear(n_in, n_out)
                    self.backbone = timm.create_model("resnet18")

            model = Net(7, 3)
        """,
    }
    root = write_project(tmp_path, files)
    index = ProjectIndex([read_source(root, "net.py")])
    s = ShapeDeriver(index).structure(index.classes["net.Net"])
    assert s.tensors == {"fc.weight": (3, 7), "fc.bias": (3,)}
    assert s.unresolved == ["backbone"] and not s.complete
    m = match("net.Net", {"fc.weight": (3, 7), "fc.bias": (3,), "backbone.conv1.weight": (64, 3, 7, 7)}, s)
    assert m.fits and not m.exact and m.covered_unresolved == 1
    wrong = match("net.Net", {"fc.weight": (3, 8), "fc.bias": (3,)}, s)
    assert not wrong.fits and wrong.wrong_shape == (("fc.weight", (3, 8), (3, 7)),)
