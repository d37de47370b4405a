"""Readers: names, dtypes, shapes, nesting, metadata and values match what torch itself loads."""

from __future__ import annotations

import json
import sys
import types
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from trainaudit.evidence.checkpoints import read_checkpoint, sniff
from trainaudit.evidence.checkpoints.values import tensor_stats, tensor_values


def _model() -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4), torch.nn.Flatten(),
                               torch.nn.Linear(4, 2))


def _same_values(ckpt, reference: dict[str, torch.Tensor]) -> None:
    for name, tensor in reference.items():
        info = ckpt.tensors[name]
        assert info.shape == tuple(tensor.shape), name
        assert info.dtype == str(tensor.dtype).removeprefix("torch."), name
        values = tensor_values(info)
        expected = tensor.float().numpy() if tensor.dtype == torch.bfloat16 else tensor.numpy()
        assert np.array_equal(values, expected), name


def test_zip_state_dict_nesting_metadata_and_values(tmp_path: Path) -> None:
    model = _model()
    opt = torch.optim.Adam(model.parameters())
    model(torch.randn(2, 3, 3, 3)).sum().backward()
    opt.step()
    path = tmp_path / "run.pt"
    torch.save({"model": model.state_dict(), "optimizer": opt.state_dict(), "epoch": 7, "global_step": 140,
                "ema": {"w": torch.ones(3, dtype=torch.bfloat16)}, "args": {"lr": 0.1, "layers": (1, 2)},
                "scale": torch.nn.Parameter(torch.tensor([2.5], dtype=torch.float16))}, path)
    ckpt = read_checkpoint(path, "run.pt")
    assert ckpt.format == "torch-zip" and not ckpt.problems and not ckpt.unsafe
    assert ckpt.metadata["epoch"] == 7 and ckpt.metadata["global_step"] == 140
    assert ckpt.metadata["args"] == {"lr": 0.1, "layers": [1, 2]}
    assert ckpt.top_keys == ["model", "optimizer", "epoch", "global_step", "ema", "args", "scale"]
    assert ckpt.tensors["model.0.weight"].nest == ("model",) and ckpt.tensors["model.0.weight"].key == "0.weight"
    assert ckpt.tensors["scale"].is_parameter and ckpt.tensors["scale"].dtype == "float16"
    assert "optimizer.state.0.exp_avg" in ckpt.tensors
    model_tensors = ckpt.model_tensors()
    assert set(model_tensors) == set(model.state_dict())
    assert ckpt.parameter_count == sum(p.numel() for p in model.parameters())  # buffers are not parameters
    _same_values(ckpt, {f"model.{k}": v for k, v in model.state_dict().items()})
    _same_values(ckpt, {"ema.w": torch.ones(3, dtype=torch.bfloat16), "scale": torch.tensor([2.5]).half()})


@pytest.mark.parametrize("make", ["script", "trace"])
def test_torchscript_archive_lists_the_module_weights_and_no_unsafe_global(tmp_path: Path, make: str) -> None:
    """torch.jit.save archives: scripted classes are rebuilt without __init__ (they failed with an AttributeError),
    and their debug pickles' torch.jit._pickle builders are what jit.load's own unpickler resolves, not unsafe."""
    model = _model().eval()
    scripted = torch.jit.script(model) if make == "script" else torch.jit.trace(model, torch.randn(2, 3, 3, 3))
    path = tmp_path / "model.pt"
    torch.jit.save(scripted, path)
    ckpt = read_checkpoint(path)
    assert ckpt.format == "torchscript" and not ckpt.problems and not ckpt.unsafe
    assert set(ckpt.model_tensors()) == set(model.state_dict())
    assert ckpt.parameter_count == sum(p.numel() for p in model.parameters())
    _same_values(ckpt, model.state_dict())


def test_any_top_level_folder_name(tmp_path: Path) -> None:
    path = tmp_path / "weights.pt"
    torch.save({"w": torch.arange(6.0).reshape(2, 3)}, path)
    renamed = tmp_path / "renamed.pt"
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(renamed, "w") as dst:
        for info in src.infolist():
            dst.writestr("some_other_folder/" + info.filename.split("/", 1)[1], src.read(info))
    ckpt = read_checkpoint(renamed)
    assert not ckpt.problems
    assert tensor_values(ckpt.tensors["w"]).tolist() == [[0, 1, 2], [3, 4, 5]]


def test_legacy_format_with_views(tmp_path: Path) -> None:
    model = _model()
    base = torch.arange(12.0).reshape(3, 4)
    path = tmp_path / "legacy.pth"
    torch.save({"state_dict": model.state_dict(), "view": base[:, 1:3], "epoch": 2}, path,
               _use_new_zipfile_serialization=False)
    ckpt = read_checkpoint(path)
    assert ckpt.format == "torch-legacy" and not ckpt.problems and not ckpt.unsafe
    assert ckpt.metadata["epoch"] == 2
    _same_values(ckpt, {f"state_dict.{k}": v for k, v in model.state_dict().items()})
    assert tensor_values(ckpt.tensors["view"]).tolist() == base[:, 1:3].tolist()


def test_safetensors_header_and_values(tmp_path: Path) -> None:
    tensors = {"a.weight": torch.randn(5, 3), "a.bias": torch.zeros(5, dtype=torch.bfloat16),
               "ids": torch.arange(4, dtype=torch.int64)}
    path = tmp_path / "model.safetensors"
    save_file(tensors, str(path), metadata={"epoch": "3"})
    ckpt = read_checkpoint(path)
    assert ckpt.format == "safetensors" and not ckpt.problems
    assert ckpt.metadata == {"epoch": "3"}
    assert {k: t.shape for k, t in ckpt.tensors.items()} == {k: tuple(v.shape) for k, v in tensors.items()}
    _same_values(ckpt, tensors)


def test_sharded_hf_folder_safetensors_and_bin(tmp_path: Path) -> None:
    first, second = {"embed.weight": torch.randn(10, 4)}, {"head.weight": torch.randn(2, 4), "head.bias": torch.ones(2)}
    save_file(first, str(tmp_path / "model-00001-of-00002.safetensors"))
    save_file(second, str(tmp_path / "model-00002-of-00002.safetensors"))
    wmap = {"embed.weight": "model-00001-of-00002.safetensors", "head.weight": "model-00002-of-00002.safetensors",
            "head.bias": "model-00002-of-00002.safetensors"}
    index = tmp_path / "model.safetensors.index.json"
    index.write_text(json.dumps({"metadata": {"total_size": 248}, "weight_map": wmap}))
    ckpt = read_checkpoint(index)
    assert ckpt.format == "hf-sharded" and not ckpt.problems
    assert ckpt.metadata["total_size"] == 248
    assert len(ckpt.shards) == 2
    _same_values(ckpt, first | second)

    torch.save(second, tmp_path / "pytorch_model-00002.bin")
    (tmp_path / "pytorch_model.bin.index.json").write_text(json.dumps(
        {"weight_map": {"head.weight": "pytorch_model-00002.bin", "head.bias": "pytorch_model-00002.bin",
                        "embed.weight": "pytorch_model-00001.bin"}}))
    ckpt = read_checkpoint(tmp_path / "pytorch_model.bin.index.json")
    assert ckpt.problems == ["shard pytorch_model-00001.bin named by the index is missing"]
    _same_values(ckpt, second)


def test_lightning_shaped_checkpoint(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Lightning's AttributeDict lives in lightning_fabric; a stand-in module of that name makes torch.save
    # write the same global Lightning writes, without installing Lightning.
    mod = types.ModuleType("lightning_fabric.utilities.data")

    class AttributeDict(dict):
        pass

    AttributeDict.__module__ = mod.__name__
    AttributeDict.__qualname__ = "AttributeDict"
    mod.AttributeDict = AttributeDict
    for parent in ("lightning_fabric", "lightning_fabric.utilities"):
        monkeypatch.setitem(sys.modules, parent, types.ModuleType(parent))
    monkeypatch.setitem(sys.modules, mod.__name__, mod)
    model = torch.nn.Linear(3, 2)
    hp = AttributeDict(lr=np.float64(0.01), hidden=np.int64(32), name="net", dims=[3, 2])
    path = tmp_path / "epoch=4-step=500.ckpt"
    torch.save({"epoch": 4, "global_step": 500, "pytorch-lightning_version": "2.4.0",
                "state_dict": {f"model.{k}": v for k, v in model.state_dict().items()},
                "loops": {"fit_loop": {"epoch_progress": {"current": {"completed": 4}}}},
                "callbacks": {"ModelCheckpoint{'monitor': 'val_loss'}": {"best_model_score": torch.tensor(0.25)}},
                "optimizer_states": [torch.optim.SGD(model.parameters(), lr=0.1).state_dict()],
                "lr_schedulers": [], "hparams_name": "kwargs", "hyper_parameters": hp}, path)
    ckpt = read_checkpoint(path)
    assert ckpt.format == "lightning" and not ckpt.unsafe and not ckpt.problems
    assert ckpt.metadata["hyper_parameters"] == {"lr": 0.01, "hidden": 32, "name": "net", "dims": [3, 2]}
    assert ckpt.metadata["global_step"] == 500 and ckpt.metadata["pytorch-lightning_version"] == "2.4.0"
    assert ckpt.metadata["callbacks"] == ["ModelCheckpoint{'monitor': 'val_loss'}"]
    assert set(ckpt.model_tensors()) == {"model.weight", "model.bias"}


def test_sniffing_non_standard_extension(tmp_path: Path) -> None:
    torch.save({"w": torch.ones(2)}, tmp_path / "weights.model")
    save_file({"w": torch.ones(2)}, str(tmp_path / "weights.data"))
    (tmp_path / "notes.zip").write_bytes(b"")
    with zipfile.ZipFile(tmp_path / "docs.zip", "w") as zf:
        zf.writestr("readme.txt", "hello")
    assert sniff(tmp_path / "weights.model") == "torch-zip"
    assert sniff(tmp_path / "weights.data") == "safetensors"
    assert sniff(tmp_path / "docs.zip") is None


def test_stats_stream_in_chunks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from trainaudit.evidence.checkpoints import values

    monkeypatch.setattr(values, "CHUNK_BYTES", 1024)  # many chunks: the merge of partial moments is exercised
    torch.manual_seed(1)
    w = torch.randn(300, 70)
    w[3, 4] = float("nan")
    w[5, 6] = float("inf")
    torch.save({"w": w}, tmp_path / "w.pt")
    st = tensor_stats(read_checkpoint(tmp_path / "w.pt").tensors["w"])
    finite = w[torch.isfinite(w)].double()
    assert (st.count, st.nan, st.inf) == (21000, 1, 1)
    assert st.mean == pytest.approx(finite.mean().item(), rel=1e-9)
    assert st.var == pytest.approx(finite.var(unbiased=False).item(), rel=1e-9)
    assert (st.min, st.max) == (finite.min().item(), finite.max().item())


def test_real_lightning_trainer_checkpoint(tmp_path: Path) -> None:
    lightning = pytest.importorskip("lightning")
    from torch.utils.data import DataLoader, TensorDataset

    class Regressor(lightning.LightningModule):
        def __init__(self, lr: float = 0.01, hidden: int = 8) -> None:
            super().__init__()
            self.save_hyperparameters()
            self.net = torch.nn.Sequential(torch.nn.Linear(4, hidden), torch.nn.BatchNorm1d(hidden),
                                           torch.nn.Linear(hidden, 1))

        def training_step(self, batch, batch_idx):
            x, y = batch
            return torch.nn.functional.mse_loss(self.net(x), y)

        def configure_optimizers(self):
            return torch.optim.Adam(self.parameters(), lr=self.hparams.lr)

    torch.manual_seed(0)
    data = DataLoader(TensorDataset(torch.randn(64, 4), torch.randn(64, 1)), batch_size=16)
    trainer = lightning.Trainer(max_steps=3, accelerator="cpu", logger=False, enable_checkpointing=False,
                                enable_progress_bar=False, enable_model_summary=False)
    trainer.fit(Regressor(), data)
    path = tmp_path / "last.ckpt"
    trainer.save_checkpoint(path)
    ckpt = read_checkpoint(path)
    assert ckpt.format == "lightning" and not ckpt.unsafe and not ckpt.problems
    assert ckpt.metadata["global_step"] == 3
    assert ckpt.metadata["hyper_parameters"] == {"lr": 0.01, "hidden": 8}
    assert ckpt.parameter_count == 4 * 8 + 8 + 8 + 8 + 8 + 1
    assert "net.1.running_mean" in {t.rsplit("state_dict.", 1)[-1] for t in ckpt.tensors}


def test_strided_views_in_a_compressed_zip_member(tmp_path: Path) -> None:
    base = torch.arange(24.0).reshape(4, 6)
    path = tmp_path / "views.pt"
    torch.save({"t": base.t(), "cols": base[1:, ::2]}, path)
    packed = tmp_path / "packed.pt"  # deflated members: read through the zip, skipping to the view's offset
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(packed, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            dst.writestr(info.filename, src.read(info))
    for p in (path, packed):
        ckpt = read_checkpoint(p)
        assert not ckpt.problems and not ckpt.tensors["t"].is_contiguous
        assert tensor_values(ckpt.tensors["t"]).tolist() == base.t().tolist()
        assert tensor_values(ckpt.tensors["cols"]).tolist() == base[1:, ::2].tolist()
    assert read_checkpoint(packed).tensors["cols"].member is not None


def test_discovery_reads_each_index_once_and_leaves_its_shards_to_it(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    from trainaudit.evidence.checkpoints import provider

    (tmp_path / "hf").mkdir()
    save_file({"w": torch.ones(2)}, str(tmp_path / "hf" / "model-1.safetensors"))
    (tmp_path / "hf" / "model.safetensors.index.json").write_text(
        json.dumps({"weight_map": {"w": "model-1.safetensors"}}))
    (tmp_path / "other.index.json").write_text(json.dumps({"not": "an index"}))
    save_file({"v": torch.ones(1)}, str(tmp_path / "alone.safetensors"))
    reads: list[str] = []
    real = provider.read_weight_map
    monkeypatch.setattr(provider, "read_weight_map", lambda p: reads.append(p.name) or real(p))
    files = ["alone.safetensors", "hf/model-1.safetensors", "hf/model.safetensors.index.json", "other.index.json"]
    assert provider.find_checkpoints(tmp_path, files) == (
        ["alone.safetensors", "hf/model.safetensors.index.json"], [])
    assert sorted(reads) == ["model.safetensors.index.json", "other.index.json"]
