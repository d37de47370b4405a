"""Claims held against a repository: files, line counts, tests (static and run), stubs, mocks, artefacts, params."""

from __future__ import annotations

import json
import struct

import pytest
from claims_tools import issues_of, write

from trainaudit.claims import check_documents, repo

MODEL = """
import torch.nn as nn


class Encoder(nn.Module):
    def forward(self, x):
        return x * 2
"""
STUBBED = """
class Decoder:
    def forward(self, z):
        raise NotImplementedError


def train_loop():
    pass
"""
TESTS = """
def test_a():
    assert 1 + 1 == 2


def test_b():
    assert 2 * 2 == {value}


class TestGroup:
    def test_c(self):
        assert True
"""


def test_true_claims_against_a_matching_repository_give_no_finding(check):
    files = {
        "src/model.py": MODEL,
        "tests/test_model.py": TESTS.format(value=4),
        "runs/exp1/metrics.csv": "epoch,val_accuracy,val_loss\n0,0.71,0.9\n1,0.9123,0.31\n",
        "checkpoints/last.ckpt": "not really a checkpoint",
    }
    doc = """
    # Readiness assessment
    - `src/model.py` (6 lines): ✅ Complete encoder
    - `tests/test_model.py`: 3 tests, all passing
    - Validation accuracy: 91.23%
    - Training completed on 2025-08-02
    - No mocks in the training code
    """
    result = check(doc, files)
    assert [i for i in result.issues if i.severity != "info"] == []
    status = {c.kind: c.status for c in result.claims}
    assert status == {"file": "verified", "tests": "verified", "metric": "verified", "training": "verified",
                      "mocks": "verified"}
    metric = next(c for c in result.claims if c.kind == "metric")
    assert metric.evidence == ["val_accuracy in runs/exp1/metrics.csv: last value 91.23%"]


def test_missing_files_and_wrong_line_counts(check):
    files = {"src/model.py": MODEL}
    doc = """
    ## Files Created
    - `src/model.py` (305 lines)
    - `src/trainer.py` - training loop
    - `configs/*.yaml` - configs
    """
    result = check(doc, files)
    assert issues_of(result) == [("claim-contradicted", 2, [2]), ("claim-contradicted", 3, [3]),
                                 ("claim-contradicted", 4, [4])]
    msgs = [i.message for i in result.issues]
    assert msgs[0] == "line 2 says src/model.py has 305 lines; src/model.py has 6"
    assert msgs[1] == "line 3 refers to src/trainer.py, which does not exist in the repository"


def test_file_said_not_yet_created_that_exists(check):
    result = check("- `data/raw/subset_1k/`: REQUIRED (not yet created)\n", {"data/raw/subset_1k/a.csv": "x\n"})
    assert issues_of(result) == [("claim-contradicted", 1, [1])]


def test_stub_claimed_implemented(check):
    files = {"src/decoder.py": STUBBED, "src/model.py": MODEL}
    doc = """
    - `src/decoder.py`: ✅ Complete decoder
    - `Encoder` implemented and tested
    - `Decoder` implemented
    - `FusionLayer` implemented
    """
    result = check(doc, files)
    assert issues_of(result) == [("claim-contradicted", 1, [1]), ("claim-contradicted", 3, [3]),
                                 ("claim-contradicted", 4, [4])]
    msgs = [i.message for i in result.issues]
    assert "Decoder.forward (line 2) raises NotImplementedError" in msgs[0]
    assert "train_loop (line 6) has an empty body" in msgs[0]
    assert msgs[2] == "line 4 claims FusionLayer is implemented, but nothing in the repository defines it"


def test_test_counts_against_the_tests_that_exist(check):
    files = {"tests/test_model.py": TESTS.format(value=4), "tests/test_data.py": "def test_x():\n    pass\n"}
    doc = """
    - All 12 model tests passing
    - 35+ tests across all components
    - 4/4 data tests passing
    - `tests/test_model.py` (3 tests, all passing)
    """
    result = check(doc, files)
    assert issues_of(result) == [("claim-contradicted", 1, [1]), ("claim-contradicted", 2, [2]),
                                 ("claim-contradicted", 3, [3])]
    assert result.issues[0].message == "line 1 says 12 tests for model; tests/test_model.py defines 3"


def test_run_tests_catches_failing_tests(check):
    files = {"tests/test_model.py": TESTS.format(value=5)}
    doc = """
    - `tests/test_model.py`: 3 tests, all passing
    """
    result = check(doc, files, run_tests=True, test_timeout=120)
    assert result.tests_run["passed"] == 2 and result.tests_run["failed"] == 1
    assert issues_of(result) == [("claim-contradicted", 1, [1])]
    assert "pytest: 2 passed, 1 failed" in result.issues[0].message


def test_run_tests_confirms_passing_tests(check):
    result = check("- 3/3 tests passing\n", {"tests/test_model.py": TESTS.format(value=4)}, run_tests=True,
                   test_timeout=120)
    assert result.issues == []
    assert [c.evidence for c in result.claims if c.kind == "tests"] == [["pytest: 3 passed"]]


def test_no_mocks_claim_against_mocks_in_non_test_code(check):
    files = {
        "src/train.py": "import sys\nfrom unittest.mock import MagicMock\nsys.modules['lmdb'] = MagicMock()\n",
        "src/compat.py": "try:\n    import lightning\nexcept ImportError:\n    class lightning:\n        pass\n",
        "tests/test_x.py": "from unittest import mock\n\ndef test_x():\n    assert mock\n",
    }
    result = check("- ✅ All mock implementations removed\n", files)
    assert issues_of(result) == [("claim-contradicted", 1, [1])]
    ev = result.issues[0].evidence["mocks"]
    assert sorted((rel, ln) for rel, ln, _ in ev) == [("src/compat.py", 4), ("src/train.py", 2), ("src/train.py", 3)]


def test_training_complete_without_artefacts(check):
    result = check("- Training completed successfully (10 epochs)\n", {"train.py": "print('hi')\n"})
    assert issues_of(result) == [("claim-contradicted", 1, [1])]
    assert "no checkpoint and no training log" in result.issues[0].message


def test_metric_without_evidence_is_unsupported(check):
    result = check("- Dice: 0.87 on the test set\n", {"train.py": "print('hi')\n"})
    assert issues_of(result) == [("claim-unsupported", 1, [1])]


def _safetensors(path, shapes: dict[str, list[int]]) -> None:
    offset, header = 0, {}
    for name, shape in shapes.items():
        n = 4
        for d in shape:
            n *= d
        header[name] = {"dtype": "F32", "shape": shape, "data_offsets": [offset, offset + n]}
        offset += n
    raw = json.dumps(header).encode()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(struct.pack("<Q", len(raw)) + raw + b"\0" * offset)


def test_parameter_counts_against_a_checkpoint(tmp_path):
    _safetensors(tmp_path / "ckpt" / "model.safetensors", {"fc.weight": [10, 20], "fc.bias": [10]})
    doc = write(tmp_path, "STATUS.md", "- `Net` (210 parameters)\n- `Big` (13.14B params)\n")
    result = check_documents([doc], tmp_path)
    assert issues_of(result) == [("claim-contradicted", 2, [2])]
    assert result.issues[0].message == "line 2 states 13.14B params; ckpt/model.safetensors has 210"
    assert next(c for c in result.claims if c.line == 1 and c.kind == "params").status == "verified"


def test_parameter_counts_from_a_pluggable_source(tmp_path):
    from trainaudit.claims.repo import ParamCount

    doc = write(tmp_path, "STATUS.md", "- Model has 1,000 parameters\n")
    without = check_documents([doc], tmp_path)
    assert issues_of(without) == [("claim-unsupported", 1, [1])]
    given = check_documents([doc], tmp_path, param_counts=[ParamCount("trace", 1000)])
    assert given.issues == []


@pytest.mark.parametrize("cache_budget", [0, 50_000_000])  # result files read again, or kept between claims
def test_several_metric_claims_are_found_in_one_result_file(check, monkeypatch, cache_budget):
    monkeypatch.setattr(repo, "MAX_CACHED_CHARS", cache_budget)
    files = {"results/eval.txt": "test f1 = 0.88\ntest dice = 0.81\n", "train.py": "print('hi')\n"}
    result = check("- Test F1: 0.88\n- Dice: 0.81\n- Test precision: 0.5\n- F1: 0.88 again\n", files)
    assert issues_of(result) == [("claim-unsupported", 3, [3])]
    got = [(c.line, c.status, c.evidence) for c in result.claims if c.kind == "metric"]
    assert got == [
        (1, "verified", ["logged at results/eval.txt:1"]),
        (2, "verified", ["logged at results/eval.txt:2"]),
        (3, "unsupported", ["line 3 reports precision 0.5, but no log or result file in the repository has it"]),
        (4, "verified", ["logged at results/eval.txt:1"]),
    ]
