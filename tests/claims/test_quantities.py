"""Totals, durations, repeated quantities, splits, parameter counts and test results inside one document."""

from __future__ import annotations

from claims_tools import issues_of


def test_table_total_that_is_not_the_sum_of_its_rows(check):
    doc = """
    # Compute used

    | Phase | GPU hours |
    |-------|-----------|
    | Pretraining | 120 |
    | Finetuning | 30.5 |
    | Evaluation | 4 |
    | **Total** | 160 |
    """
    result = check(doc)
    assert issues_of(result) == [("claim-inconsistent", 8, [8])]
    assert "states a total of 160; the parts on lines 5, 6, 7 add up to 154.5" in result.issues[0].message


def test_table_total_that_adds_up_is_verified(check):
    doc = """
    | Split | Samples |
    |-------|---------|
    | train | 700 |
    | val | 150 |
    | test | 150 |
    | Total | 1,000 |
    """
    result = check(doc)
    assert result.issues == []
    total = next(c for c in result.claims if c.kind == "total")
    assert (total.status, total.line) == ("verified", 6)


def test_list_timeline_total_with_alternatives(check):
    doc = """
    ### Timeline
    - "Complete fixes: 2-4 hours"
    - "Training: 4 weeks (or 3 weeks with A100)"
    - "Experiments: 6 weeks"
    - "Total: 11-12 weeks"
    """
    result = check(doc)
    assert issues_of(result) == [("claim-inconsistent", 5, [5])]
    assert result.issues[0].message == (
        "line 5 states a total of 11-12 weeks; the parts on lines 2, 3, 4 add up to 9.01 weeks to 10.02 weeks")


def test_list_timeline_that_adds_up(check):
    doc = """
    - Fixes: 1 week
    - Training: 4 weeks
    - Total: 5 weeks
    """
    result = check(doc)
    assert result.issues == []
    assert [c.status for c in result.claims if c.kind == "total"] == ["verified"]


def test_inline_sum(check):
    doc = "Plan: 2-4 hours for fixes + 4 weeks training = 5 weeks total.\n\nBudget: 3 days + 4 days = 1 week\n"
    result = check(doc)
    assert issues_of(result) == [("claim-inconsistent", 1, [1])]
    assert "add up to 4.01 weeks to 4.02 weeks" in result.issues[0].message


def test_announced_count_against_the_list(check):
    doc = """
    The system has **four** models:

    1. Encoder
    2. Decoder
    3. Critic

    It ships three scripts:

    - a.py
    - b.py
    - c.py
    """
    result = check(doc)
    assert issues_of(result) == [("claim-inconsistent", 1, [1])]
    assert result.issues[0].message == "line 1 announces four models but the list that follows has 3 items"


def test_duration_against_its_time_range(check):
    doc = """
    - Training ran 09:00-13:30 (4.5 hours) on the A100
    - Evaluation ran 14:00 to 15:00 (3 hours)
    - Data prep 2025-08-01 to 2025-08-03 (3 days)
    - Night run 23:00-01:00 (2 h)
    """
    result = check(doc)
    assert issues_of(result) == [("claim-inconsistent", 2, [2])]
    assert result.issues[0].message == "line 2 says 3 hours for 14:00 to 15:00, which is 1 hours"
    assert sorted(c.line for c in result.claims if c.kind == "duration" and c.status == "verified") == [1, 3, 4]


def test_metric_stated_twice_with_different_values(check):
    doc = """
    ## Baseline
    - Established baseline metrics (MSE: 0.1116, Diversity: 8.670)
    - Throughput ~0.17 it/s on CPU

    ## Later
    - **Mean MSE**: 0.0939 (baseline for untrained model)
    - CPU performance too slow (0.07 it/s)
    - MSE: 0.11160 again
    """
    result = check(doc)
    assert issues_of(result) == [("claim-inconsistent", 2, [2, 6, 8]), ("claim-inconsistent", 3, [3, 7])]
    msgs = sorted(i.message for i in result.issues)
    assert msgs == ["MSE: lines 2, 8 say 0.1116; line 6 says 0.0939", "it/s: line 3 says 0.17; line 7 says 0.07"]


def test_metric_values_that_describe_different_things_are_not_conflicts(check):
    doc = """
    - Train accuracy: 0.99
    - Validation accuracy: 0.91
    - Exp 1: accuracy 0.80
    - Exp 2: accuracy 0.85

    | Model | F1 |
    |-------|----|
    | base | 0.71 |
    | large | 0.78 |

    - Final loss 0.20 after training, initial loss 2.3
    - Accuracy 93% (0.93 on the held-out set)
    - Loss decreased from 77809 to 410
    - Verify correlation > 0.3 threshold
    """
    result = check(doc)
    assert issues_of(result) == []


def test_split_stated_as_different_counts(check):
    doc = """
    - Train/val/test splits: 700/150/150 studies (70/15/15 distribution)

    ## Data
    - `train_split.csv`: Training data (70% - 70 studies)
    - `val_split.csv`: Validation data (15% - 15 studies)
    - `test_split.csv`: Test data (15% - 15 studies)
    """
    result = check(doc)
    assert issues_of(result) == [("claim-inconsistent", 1, [1, 4, 5, 6])]
    assert result.issues[0].message == (
        "train/val/test split in studies: line 1 says 700/150/150 studies; lines 4, 5, 6 say 70/15/15 studies")


def test_parameter_counts_consistent_and_not(check):
    doc = """
    - `resnet_vae.py`: 3D VAE (8,066,409 parameters)
    - Model: `src/models/resnet_vae.py` (8.1M parameters)
    - **RebuiltGraphVAE** (1.2B params)
    - **RebuiltGraphVAE** has 1.5B params
    """
    result = check(doc)
    assert issues_of(result) == [("claim-inconsistent", 3, [3, 4])]
    assert result.issues[0].message == "RebuiltGraphVAE: line 3 says 1.2B params; line 4 says 1.5B params"
    vae = [c.status for c in result.claims if c.kind == "params" and "resnet" in c.subject]
    assert vae == ["verified", "verified"]


def test_partial_test_pass_presented_as_all_passing(check):
    doc = """
    - ✅ All DataModule tests passing: 11/12 tests passing
    - Evidence: All 12 DataModule tests passing (was 11/12)
    - 12/12 DataModule tests passing
    """
    result = check(doc)
    assert issues_of(result) == [("claim-inconsistent", 1, [1])]
    assert result.issues[0].message == "line 1 presents 11/12 tests passing as all passing; 1 of 12 are not passing"


def test_same_suite_with_different_test_counts(check):
    doc = """
    - All 12 DataModule tests passing
    - 14 DataModule tests passing
    """
    result = check(doc)
    assert issues_of(result) == [("claim-inconsistent", 1, [1, 2])]


def test_file_line_counts_and_existence_stated_inconsistently(check):
    doc = """
    ## Files Created
    - `scripts/validate.py` (369 lines)
    - `data/raw/subset_1k.pkl.gz` (455KB)

    ## Registry
    - `scripts/validate.py` (412 lines)
    - `data/raw/subset_1k/`: REQUIRED (not yet created)
    """
    result = check(doc)
    assert issues_of(result) == [("claim-inconsistent", 2, [2, 6]), ("claim-inconsistent", 3, [3, 7])]


def test_predictions_are_listed_as_info(check):
    doc = """
    # Outlook
    - **Expected Accuracy:** 94-96%
    - **Confidence:** 95%
    - **Overall Score:** 9.5/10
    - Estimated Time: 2 hours
    - Accuracy: 91.2% on the test set
    """
    result = check(doc)
    info = [i for i in result.issues if i.severity == "info"]
    assert len(info) == 1 and info[0].lines == [2, 3, 4, 5]
    assert info[0].message.startswith("4 of 5 claims are predictions or self-assessments")
    assert [c.status for c in result.claims if c.kind == "metric"] == ["unchecked"]
