"""Checkpoint rules: each fires on the bad case and stays silent on the close legitimate one."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import pytest
import torch
from ckpt_tools import findings, write_project

from trainaudit.spec import Spec

HYBRID = {
    "hybrid/__init__.py": "",
    "hybrid/models.py": """
        import torch
        from torch import nn

        class GNNViTHybrid(nn.Module):
            def __init__(self, dim=32, patch=4):
                super().__init__()
                self.patch_embed = nn.Conv2d(1, dim, kernel_size=patch, stride=patch)
                self.pos = nn.Parameter(torch.zeros(1, 64, dim))
                self.gnn = nn.ModuleList([nn.Linear(dim, dim) for _ in range(2)])
                self.norm = nn.LayerNorm(dim)
                self.head = nn.Sequential(nn.Linear(2 * dim, dim), nn.GELU(), nn.Linear(dim, patch * patch))
    """,
    "hybrid/train.py": """
        from torch import nn

        class SimpleGNNViTHybrid(nn.Module):
            def __init__(self, node_dim=16, hidden=64):
                super().__init__()
                self.graph_proj = nn.Linear(node_dim, hidden)
                self.head = nn.Sequential(nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, 1))
    """,
}


@pytest.fixture()
def project(tmp_path: Path):
    root = write_project(tmp_path / "proj", HYBRID)
    sys.path.insert(0, str(root))
    try:
        yield root, importlib.import_module("hybrid.models"), importlib.import_module("hybrid.train")
    finally:
        sys.path.remove(str(root))
        for name in [m for m in sys.modules if m == "hybrid" or m.startswith("hybrid.")]:
            del sys.modules[name]


SPEC = Spec(model="hybrid.models.GNNViTHybrid")


def test_mismatch_seed_case_placeholder_weights(project) -> None:
    root, models, train = project
    (root / "ckpt").mkdir()
    torch.save(train.SimpleGNNViTHybrid().state_dict(), root / "ckpt" / "gnn_vit_hybrid_final.pth")
    found = findings(root, "checkpoint-mismatch", SPEC)
    assert [(f.rule, f.path, f.severity.value) for f in found] == [
        ("checkpoint-mismatch", "ckpt/gnn_vit_hybrid_final.pth", "error")]
    simple = sum(p.numel() for p in train.SimpleGNNViTHybrid().parameters())
    real = sum(p.numel() for p in models.GNNViTHybrid().parameters())
    ev = found[0].evidence
    assert (ev["class"], ev["checkpoint_parameters"], ev["required"], ev["required_parameters"]) == (
        "hybrid.train.SimpleGNNViTHybrid", simple, "hybrid.models.GNNViTHybrid", real)
    assert f"SimpleGNNViTHybrid ({simple:,} parameters" in found[0].message
    assert f"not of the required GNNViTHybrid ({real:,} parameters)" in found[0].message


def test_mismatch_silent_when_the_required_model_was_saved(project) -> None:
    root, models, _ = project
    torch.save({"model": models.GNNViTHybrid().state_dict(), "epoch": 3}, root / "final.pt")
    assert findings(root, "checkpoint-mismatch", SPEC) == []


def test_mismatch_fits_nothing(project) -> None:
    root, models, _ = project
    sd = models.GNNViTHybrid(dim=48).state_dict()  # the right class, built with other sizes
    torch.save(sd, root / "wide.pt")
    found = findings(root, "checkpoint-mismatch", SPEC)
    assert [(f.path, f.severity.value) for f in found] == [("wide.pt", "error")]
    assert "does not fit the required GNNViTHybrid" in found[0].message
    assert "patch_embed.weight [48, 1, 4, 4] vs [32, 1, 4, 4]" in found[0].message


def test_mismatch_without_spec(project) -> None:
    root, models, train = project
    torch.save(train.SimpleGNNViTHybrid().state_dict(), root / "a.pt")
    found = findings(root, "checkpoint-mismatch")
    assert [(f.path, f.severity.value) for f in found] == [("a.pt", "error")]
    assert "stand-in SimpleGNNViTHybrid" in found[0].message and "GNNViTHybrid" in found[0].evidence["project_model"]
    (root / "a.pt").unlink()
    torch.save(models.GNNViTHybrid().state_dict(), root / "b.pt")
    found = findings(root, "checkpoint-mismatch")
    assert [(f.path, f.severity.value, f.evidence["class"]) for f in found] == [
        ("b.pt", "info", "hybrid.models.GNNViTHybrid")]


class _Net(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc1 = torch.nn.Linear(16, 64)
        self.bn = torch.nn.BatchNorm1d(64)
        self.norm = torch.nn.LayerNorm(64)
        self.fc2 = torch.nn.Linear(64, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.norm(torch.relu(self.bn(self.fc1(x)))))


def _trained(steps: int = 300) -> _Net:
    """A few hundred steps on a learnable task: the label is the sign of the sum of the first 4 features."""
    torch.manual_seed(0)
    net = _Net()
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    for _ in range(steps):
        x = torch.randn(64, 16)
        y = (x[:, :4].sum(1) > 0).long()
        loss = torch.nn.functional.cross_entropy(net(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 0.3  # it really learned
    return net


def test_untrained_fires_on_fresh_weights(tmp_path: Path) -> None:
    torch.manual_seed(1)
    torch.save({"state_dict": _Net().state_dict(), "epoch": 20, "global_step": 4000}, tmp_path / "best.pt")
    found = findings(tmp_path, "untrained-checkpoint")
    assert [(f.rule, f.path, f.severity.value) for f in found] == [("untrained-checkpoint", "best.pt", "error")]
    assert found[0].evidence["signatures"] == [
        "all 1 BatchNorm layers have running_mean 0, running_var 1 and num_batches_tracked 0",
        "all 2 norm layers have weight exactly 1 and bias exactly 0",
        "all 2 Linear/Conv weights lie inside U(+-1/sqrt(fan_in)) with that uniform's variance "
        "(torch's default initialisation)",
    ]
    assert "although it claims epoch 20" in found[0].message


def test_untrained_default_init_alone_and_step_zero(tmp_path: Path) -> None:
    torch.manual_seed(2)
    mlp = torch.nn.Sequential(torch.nn.Linear(32, 64), torch.nn.ReLU(), torch.nn.Linear(64, 8))
    torch.save(mlp.state_dict(), tmp_path / "mlp.pt")
    found = findings(tmp_path, "untrained-checkpoint")
    assert [f.path for f in found] == ["mlp.pt"]
    assert found[0].evidence["signatures"][0].startswith("all 2 Linear/Conv weights lie inside")
    (tmp_path / "mlp.pt").unlink()
    torch.save({"state_dict": _trained(100).state_dict(), "global_step": 0, "epoch": 0}, tmp_path / "l.ckpt")
    found = findings(tmp_path, "untrained-checkpoint")
    assert [(f.path, f.evidence["signatures"]) for f in found] == [("l.ckpt", ["metadata says global_step 0"])]


def test_untrained_silent_on_really_trained_checkpoint(tmp_path: Path) -> None:
    torch.save({"state_dict": _trained().state_dict(), "epoch": 3, "global_step": 300}, tmp_path / "trained.pt")
    assert findings(tmp_path, "untrained-checkpoint") == []


def test_identical_weights_across_claimed_epochs(tmp_path: Path) -> None:
    net = _trained(200)
    torch.save({"model": net.state_dict(), "epoch": 1}, tmp_path / "ckpt_1.pt")
    torch.save({"model": net.state_dict(), "epoch": 5}, tmp_path / "ckpt_5.pt")
    found = findings(tmp_path, "untrained-checkpoint")
    assert [(f.path, f.evidence["same_as"]) for f in found] == [("ckpt_5.pt", "ckpt_1.pt")]
    assert "ckpt_5.pt (epoch 5) holds exactly the same weights as ckpt_1.pt (epoch 1)" in found[0].message
    # The close legitimate case: more training between the two epochs.
    opt = torch.optim.SGD(net.parameters(), lr=0.05)
    net(torch.randn(8, 16)).sum().backward()
    opt.step()
    torch.save({"model": net.state_dict(), "epoch": 5}, tmp_path / "ckpt_5.pt")
    assert findings(tmp_path, "untrained-checkpoint") == []


def test_nan_weights_reported_under_nan_values(tmp_path: Path) -> None:
    net = _trained(50)
    torch.save(net.state_dict(), tmp_path / "ok.pt")
    assert findings(tmp_path, "nan-values") == []
    sd = net.state_dict()
    sd["fc2.weight"][0, 0] = float("nan")
    sd["fc1.bias"][:3] = float("inf")
    torch.save(sd, tmp_path / "bad.pt")
    found = findings(tmp_path, "nan-values")
    assert [(f.rule, f.path, f.code) for f in found] == [("nan-values", "bad.pt", "TA502")]
    assert found[0].evidence["tensors"] == [{"name": "fc1.bias", "nan": 0, "inf": 3},
                                            {"name": "fc2.weight", "nan": 1, "inf": 0}]


def test_spec_checkpoint_glob_that_matches_nothing(tmp_path: Path) -> None:
    torch.save({"w": torch.ones(1)}, tmp_path / "x.pt")
    found = findings(tmp_path, "spec-unresolved", Spec(checkpoints=("runs/*.ckpt",)), source="engine")
    expected = {"key": "checkpoints", "value": "runs/*.ckpt"}
    assert [(f.rule, f.evidence) for f in found] == [("spec-unresolved", expected)]
    assert findings(tmp_path, "spec-unresolved", Spec(checkpoints=("*.pt",)), source=None) == []
