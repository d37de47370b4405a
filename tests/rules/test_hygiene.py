"""Hygiene rules (mock-dependency, amp-unsafe-clipping, non-atomic-write, swallowed-failure): fire and stay silent."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
from harness import check_project, found, markers, write_project

from trainaudit import audit

FIXTURES = Path(__file__).parent.parent / "fixtures"
SLUGS = ("mock-dependency", "amp-unsafe-clipping", "non-atomic-write", "swallowed-failure")

# A minimal real training loop the hygiene cases wrap; it makes the project training code.
LOOP = """
    import torch
    import torch.nn as nn
    import torch.nn.functional as F

    def train(epochs=2):
        model = nn.Linear(4, 2)
        opt = torch.optim.SGD(model.parameters(), lr=0.1)
        data = torch.load("data.pt")
        for _ in range(epochs):
            for x, y in data:
                loss = F.cross_entropy(model(x), y)
                opt.zero_grad()
                loss.backward()
                opt.step()
        return model
"""


def notebook(root: Path, name: str, cells: list[str]) -> Path:
    """Write a notebook whose code cells are the given (dedented) sources."""
    doc = {"nbformat": 4, "nbformat_minor": 5, "metadata": {},
           "cells": [{"cell_type": "code", "metadata": {}, "outputs": [], "execution_count": None,
                      "source": textwrap.dedent(c).strip("\n")} for c in cells]}
    (root / name).write_text(json.dumps(doc), encoding="utf-8")
    return root


def line_of(root: Path, rel: str, text: str) -> int:
    return next(n for n, line in enumerate((root / rel).read_text().splitlines(), 1) if text in line)


def cells_of(report, slug: str) -> set[tuple[str, int | None, int | None]]:
    return {(f.path, f.location.cell, f.location.cell_line) for f in report.findings if f.rule == slug}


# -- mock-dependency ------------------------------------------------------------------------------------

def test_mock_dependency_fires_on_sys_modules_mock_import_and_stand_in_classes(tmp_path):
    root = write_project(tmp_path, {
        "train.py": LOOP + """
    import sys
    from unittest.mock import MagicMock
    sys.modules["wandb"] = MagicMock()  # expect: mock-dependency
    """,
        "patching.py": """
            from unittest import mock  # expect: mock-dependency

            def quiet(fn):
                with mock.patch("builtins.print"):
                    return fn()
        """,
        "data.py": """
            try:
                import lmdb
            except ImportError:
                class lmdb:  # expect: mock-dependency
                    @staticmethod
                    def open(path, **kw):
                        return {}
        """,
        "model.py": """
            import types as T
            try:
                import lightning as L
            except ModuleNotFoundError:
                L = T.SimpleNamespace(LightningModule=object)  # expect: mock-dependency
        """,
        "loader.py": """
            class _FakeTorch:
                def load(self, path):
                    return []
            try:
                import torch
            except ImportError:
                torch = _FakeTorch()  # expect: mock-dependency
        """,
    })
    report = check_project(root, {"mock-dependency"})
    sys_finding = next(f for f in report.findings if f.rule == "mock-dependency" and f.path == "train.py")
    assert "sys.modules['wandb']" in sys_finding.message
    stand_in = next(f for f in report.findings if f.rule == "mock-dependency" and f.path == "data.py")
    assert stand_in.evidence["dependencies"] == ["lmdb"] and "class lmdb" in stand_in.message


def test_mock_dependency_silent_on_tests_and_optional_dependency_patterns(tmp_path):
    root = write_project(tmp_path, {
        "train.py": LOOP,
        "tests/test_train.py": """
            import sys
            from unittest.mock import MagicMock
            sys.modules["lmdb"] = MagicMock()
            try:
                import lightning
            except ImportError:
                class lightning:
                    pass
        """,
        "optional.py": """
            import importlib.util
            import sys

            try:
                import wandb
            except ImportError:
                wandb = None
            try:
                import apex
                HAS_APEX = True
            except ImportError:
                HAS_APEX = False
            try:
                import lmdb
            except ImportError as exc:
                class Missing(Exception):
                    pass
                raise ImportError("lmdb is required: pip install lmdb") from exc
            try:
                from tqdm import tqdm
            except ImportError:
                def tqdm(it, **kw):
                    return it
            try:
                import ujson as json
            except ImportError:
                import json

            import numpy

            class _LazyModule:
                pass

            sys.modules[__name__] = _LazyModule()
            sys.modules["np_compat"] = numpy

            def load_plugin(name, path):
                spec = importlib.util.spec_from_file_location(name, path)
                module = importlib.util.module_from_spec(spec)
                sys.modules[name] = module
                spec.loader.exec_module(module)
                return module
        """,
    })
    report = check_project(root, {"mock-dependency"})
    assert not found(report, {"mock-dependency"})


COMPAT = {
    "compat.py": """
        import sys

        import torch
        import torch.nn as nn

        try:
            from torch._prims_common import is_contiguous_or_false
        except ImportError:  # added in torch 2.9
            def is_contiguous_or_false(a):
                return bool(a.is_contiguous())

        try:
            from torch.nn.attention import sdpa_kernel
        except ImportError:
            from torch.backends.cuda import sdp_kernel as _old

            def sdpa_kernel(*backends):
                return _old()

        try:
            from contextlib import ContextDecorator
        except ImportError:  # Python 2
            class ContextDecorator:
                pass

        def expose_alias(name):
            base = sys.modules[name]
            sys.modules.setdefault(name + "_fast", base)
    """,
    "mypkg/__init__.py": "",
    "mypkg/migration.py": """
        import sys
        from types import ModuleType

        def legacy_patch():
            sys.modules["mypkg.argparse_utils"] = ModuleType("mypkg.argparse_utils")
    """,
    "testing_utils.py": """
        from unittest import mock

        def offline():
            return mock.patch.dict("os.environ", {"HF_HUB_OFFLINE": "1"})
    """,
}


def test_mock_dependency_silent_on_version_fallbacks_module_aliases_and_testing_helpers(tmp_path):
    """transformers: a fallback for a function older torch releases lack (torch itself imported above), a real
    module registered under a backward-compatible name, `testing_utils.py` importing unittest.mock; Lightning:
    an empty module registered under the project's own former module name so that old checkpoints load."""
    write_project(tmp_path, {"train.py": LOOP, **COMPAT})
    check_project(tmp_path, {"mock-dependency"})


def test_mock_dependency_fires_when_the_fallback_replaces_another_package_or_a_guarded_one(tmp_path):
    write_project(tmp_path, {"train.py": LOOP, "layers.py": """
        import torch
        import torch.nn as nn

        try:
            from torch_geometric.nn import GCNConv
        except ImportError:
            class GCNConv(nn.Module):  # expect: mock-dependency
                def forward(self, x, edge_index):
                    return x

        try:
            import lightning
        except ImportError:
            lightning = None

        try:
            from lightning.pytorch import LightningModule
        except ImportError:
            class LightningModule(nn.Module):  # expect: mock-dependency
                pass
    """, "mypkg/__init__.py": "", "mypkg/migration.py": """
        import sys
        from types import ModuleType

        def legacy_patch():
            sys.modules["wandb"] = ModuleType("wandb")  # expect: mock-dependency
    """})
    check_project(tmp_path, {"mock-dependency"})


def test_mock_dependency_in_a_notebook_cell(tmp_path):
    notebook(tmp_path, "explore.ipynb", [LOOP, """
        import sys
        from unittest.mock import MagicMock
        sys.modules["torchvision"] = MagicMock()
    """])
    report = audit(tmp_path, select=["mock-dependency"])
    assert cells_of(report, "mock-dependency") == {("explore.ipynb", 1, 3)}


# -- amp-unsafe-clipping --------------------------------------------------------------------------------

AMP_HEAD = """
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
    import torch.nn.utils as U
    from torch.nn.utils import clip_grad_norm_
    from torch.cuda.amp import GradScaler

"""


def test_amp_unsafe_clipping_fires_without_unscale_and_through_aliases(tmp_path):
    root = write_project(tmp_path, {"train.py": AMP_HEAD + """
    def train(model, loader, opt):
        scaler = torch.amp.GradScaler("cuda")
        for x, y in loader:
            with torch.autocast("cuda"):
                loss = F.cross_entropy(model(x), y)
            scaler.scale(loss).backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)  # expect: amp-unsafe-clipping
            scaler.step(opt)
            scaler.update()

    def train_alias(model, loader, opt):
        grad_scaler = GradScaler()
        for x, y in loader:
            grad_scaler.scale(F.mse_loss(model(x), y)).backward()
            U.clip_grad_value_(model.parameters(), 0.5)  # expect: amp-unsafe-clipping
            grad_scaler.step(opt)
            grad_scaler.update()

    class Trainer:
        def __init__(self, model, opt):
            self.model, self.opt, self.amp = model, opt, GradScaler()

        def step(self, x, y):
            self.amp.scale(F.mse_loss(self.model(x), y)).backward()
            clip_grad_norm_(self.model.parameters(), 1.0)  # expect: amp-unsafe-clipping
            self.amp.unscale_(self.opt)
            self.amp.step(self.opt)
            self.amp.update()
    """})
    report = check_project(root, {"amp-unsafe-clipping"})
    late = next(f for f in report.findings if f.rule == "amp-unsafe-clipping" and f.line > 30)
    assert late.evidence["unscale_lines"], "the unscale_ after the clip is reported as evidence"


def test_amp_unsafe_clipping_silent_when_unscaled_first_or_no_scaler(tmp_path):
    root = write_project(tmp_path, {"train.py": AMP_HEAD + """
    def train(model, loader, opt, scaler):
        for x, y in loader:
            scaler.scale(F.cross_entropy(model(x), y)).backward()
            scaler.unscale_(opt)
            U.clip_grad_norm_(model.parameters(), 1.0)
            scaler.step(opt)
            scaler.update()

    def train_fp32(model, loader, opt):
        for x, y in loader:
            F.cross_entropy(model(x), y).backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()

    def train_accelerate(accelerator, model, loader, opt):
        for x, y in loader:
            accelerator.backward(F.cross_entropy(model(x), y))
            accelerator.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
    """})
    report = check_project(root, {"amp-unsafe-clipping"})
    assert not found(report, {"amp-unsafe-clipping"})


def test_amp_unsafe_clipping_in_a_notebook(tmp_path):
    notebook(tmp_path, "train.ipynb", [
        """
        import torch
        import torch.nn.functional as F
        model = torch.nn.Linear(4, 2)
        opt = torch.optim.Adam(model.parameters())
        scaler = torch.cuda.amp.GradScaler()
        """,
        """
        for x, y in torch.load("batches.pt"):
            scaler.scale(F.cross_entropy(model(x), y)).backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            scaler.step(opt)
            scaler.update()
        """,
    ])
    report = audit(tmp_path, select=["amp-unsafe-clipping"])
    assert cells_of(report, "amp-unsafe-clipping") == {("train.ipynb", 1, 3)}


# -- non-atomic-write -----------------------------------------------------------------------------------

def test_non_atomic_write_fires_on_result_files_written_in_place(tmp_path):
    root = write_project(tmp_path, {"train.py": LOOP + """
    import csv
    import json as J
    import os
    from pathlib import Path

    import pandas as pd
    import yaml

    def save_json(obj, path):
        with open(path, "w") as f:
            J.dump(obj, f)  # expect: non-atomic-write

    def report(out, metrics, history, meta):
        with open(os.path.join(out, "metrics.json"), "w") as fh:
            J.dump(metrics, fh, indent=2)  # expect: non-atomic-write
        pd.DataFrame(history).to_csv(os.path.join(out, "results.csv"))  # expect: non-atomic-write
        Path(out, "eval_summary.json").write_text(J.dumps(metrics))  # expect: non-atomic-write
        meta_path = Path(out) / "run_metadata.yaml"
        with meta_path.open("w") as fh:
            yaml.safe_dump(meta, fh)  # expect: non-atomic-write
        with open(f"{out}/scores.csv", "w", newline="") as fh:
            w = csv.writer(fh)  # expect: non-atomic-write
            w.writerows(history)
        save_json(metrics, "results/final_metrics.json")
    """})
    report = check_project(root, {"non-atomic-write"})
    helper = next(f for f in report.findings if f.rule == "non-atomic-write" and f.evidence["callers"])
    assert helper.line == line_of(root, "train.py", "J.dump(obj, f)")
    assert helper.evidence["callers"] == [f"train.py:{line_of(root, 'train.py', 'save_json(metrics,')}"]
    assert "final_metrics.json" in helper.message
    assert all(f.severity.value == "warning" for f in report.findings if f.rule == "non-atomic-write")


def test_non_atomic_write_silent_on_temp_then_replace_and_non_result_files(tmp_path):
    root = write_project(tmp_path, {"train.py": LOOP + """
    import json
    import os
    import tempfile
    from pathlib import Path

    def save_json(obj, path):
        with open(path, "w") as f:
            json.dump(obj, f)

    def report(out, metrics, vocab):
        tmp = os.path.join(out, "metrics.json.tmp")
        with open(tmp, "w") as fh:
            json.dump(metrics, fh)
        os.replace(tmp, os.path.join(out, "metrics.json"))

        final = Path(out) / "results.json"
        part = final.with_suffix(".part")
        part.write_text(json.dumps(metrics))
        part.replace(final)

        with tempfile.NamedTemporaryFile("w", dir=out, delete=False) as fh:
            json.dump(metrics, fh)
        os.replace(fh.name, os.path.join(out, "summary.json"))

        with open(os.path.join(out, "vocab.json"), "w") as fh:
            json.dump(vocab, fh)
        with open(os.path.join(out, "metrics.csv"), "a") as fh:
            fh.write("1,0.5\\n")

        save_json(metrics, "eval_results.json.tmp")
        os.replace("eval_results.json.tmp", "eval_results.json")
    """})
    report = check_project(root, {"non-atomic-write"})
    assert not found(report, {"non-atomic-write"})


# -- swallowed-failure ----------------------------------------------------------------------------------

def test_swallowed_failure_fires_around_training(tmp_path):
    root = write_project(tmp_path, {
        "train.py": LOOP + """
    import contextlib
    import logging
    import sys as S

    def main():
        try:
            train()
        except Exception:  # expect: swallowed-failure
            pass
        logging.info("done")

    def per_batch(model, opt, data):
        for x, y in data:
            try:
                loss = model(x).sum()
                loss.backward()
                opt.step()
            except Exception as e:  # expect: swallowed-failure
                print("skipping batch", e)
                continue

    def fit(trainer, model):
        with contextlib.suppress(Exception):  # expect: swallowed-failure
            trainer.fit(model)

    def narrow():
        try:
            train()
        except RuntimeError:  # expect: swallowed-failure
            S.exit(0)
    """,
        "run_job.py": """
            import sys
            from train import train

            if __name__ == "__main__":
                try:
                    train()
                except:  # expect: swallowed-failure
                    raise SystemExit
        """,
    })
    report = check_project(root, {"swallowed-failure"})
    msgs = {(f.path, f.line): f.message for f in report.findings if f.rule == "swallowed-failure"}
    assert "train.train()" in msgs[("train.py", line_of(root, "train.py", "except Exception:  #"))]
    assert "exits with status 0" in msgs[("run_job.py", line_of(root, "run_job.py", "except:"))]


def test_swallowed_failure_silent_on_reraise_nonzero_exit_narrow_and_non_training(tmp_path):
    root = write_project(tmp_path, {
        "train.py": LOOP + """
    import logging
    import sys

    log = logging.getLogger(__name__)

    def evaluate():
        return 0.5

    def main():
        try:
            train()
        except Exception:
            log.exception("training failed")
            raise
        try:
            train()
        except KeyboardInterrupt:
            torch.save({}, "interrupted.pt")
            raise
        try:
            train()
        except Exception as exc:
            print(exc, file=sys.stderr)
            sys.exit(1)
        try:
            train()
        except BaseException:
            raise SystemExit(2)
        try:
            score = evaluate()
        except Exception:
            score = None
        try:
            train()
        except ValueError:
            log.warning("bad value")
        return score

    def cli():
        try:
            train()
        except Exception:
            log.exception("failed")
            return 1
        return 0
    """,
        "tests/test_train.py": """
            from train import train

            def test_train_runs():
                try:
                    train(epochs=1)
                except Exception:
                    pass
        """,
    })
    report = check_project(root, {"swallowed-failure"})
    assert not found(report, {"swallowed-failure"})


# -- the fixture corpus ---------------------------------------------------------------------------------

BAD = [FIXTURES / "bad" / s for s in SLUGS if (FIXTURES / "bad" / s).is_dir()]
LEGIT = sorted(p for p in (FIXTURES / "legit").iterdir() if p.is_dir()) if (FIXTURES / "legit").is_dir() else []


@pytest.mark.parametrize("project", BAD, ids=[p.name for p in BAD])
def test_bad_fixture_findings_sit_on_marked_lines(project):
    expected = markers(project, {project.name})
    assert expected
    assert found(audit(project), {project.name}) == expected


@pytest.mark.parametrize("project", LEGIT, ids=[p.name for p in LEGIT])
def test_legit_fixtures_have_no_hygiene_finding(project):
    assert found(audit(project), set(SLUGS)) == set()


def test_hygiene_findings_can_be_suppressed_on_their_line(tmp_path):
    root = write_project(tmp_path, {"train.py": LOOP + """
    import json

    def main():
        try:
            train()
        except Exception:  # trainaudit: ignore[swallowed-failure]
            pass
        with open("metrics.json", "w") as f:
            json.dump({}, f)  # trainaudit: ignore[TA403]
    """})
    assert not found(audit(root), {"swallowed-failure", "non-atomic-write"})


TIMED_BACKWARD = """
    import time

    import torch

    def {name}(ops, x, n=10):
        x.requires_grad = True
        results = []
        for m in ops:
            try:
                for _ in range(n):
                    y = m(x)
                    t0 = time.perf_counter()
                    y.sum().backward()
                    results.append(time.perf_counter() - t0)
            except Exception as e:{marker}
                print(e)
        return results
"""


def test_swallowed_failure_silent_around_a_backward_that_is_only_timed(tmp_path):
    """yolov5's `profile()`: each layer's backward is timed, inside `except Exception: print(e)`; no optimizer,
    nothing read from the gradients. The rule followed every `.backward()`, not the training path."""
    write_project(tmp_path, {"train.py": LOOP, "torch_utils.py": TIMED_BACKWARD.format(name="profile", marker="")})
    report = check_project(tmp_path, {"swallowed-failure"})
    assert not [f for f in report.findings if f.path == "torch_utils.py"]  # not a training entry point either


def test_swallowed_failure_fires_around_the_same_backward_in_a_training_step(tmp_path):
    write_project(tmp_path, {"train.py": LOOP, "torch_utils.py": TIMED_BACKWARD.format(
        name="train_layers", marker="  # expect: swallowed-failure")})
    check_project(tmp_path, {"swallowed-failure"})
