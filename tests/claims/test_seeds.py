"""The seed status documents: every self-contradiction a careful reader finds, each with its lines, and no other."""

from __future__ import annotations

from pathlib import Path

import pytest

from trainaudit.claims import check_documents

SEEDS = Path(__file__).resolve().parents[2] / ".." / "shared" / "seeds"
pytestmark = pytest.mark.skipif(not SEEDS.is_dir(), reason=f"seed documents not present at {SEEDS}")


def _problems(name: str) -> list[tuple[str, int, tuple[int, ...], str]]:
    result = check_documents([SEEDS / name])
    return [(i.rule, i.line, tuple(i.lines), i.message) for i in result.issues if i.severity != "info"]


def test_progress_tracker_contradictions():
    got = _problems("status-progress-tracker.md")
    expected = [
        (7, (7, 17, 358, 469), "Sprint 1: lines 17, 358 say Complete; lines 7, 469 say Sprint 1 is the current sprint"),
        (7, (7, 19), "line 7 says the current sprint is Sprint 1; line 19 says Sprint 3 is ACTIVE"),
        (8, (8, 173, 471), "S1.2.4: line 173 says [x] (COMPLETE); lines 8, 471 say IN PROGRESS"),
        (17, (17, 358, 470), "Sprint 1: lines 17, 358 say Complete; line 470 says Sprint 1 Epic 2 is IN PROGRESS"),
        (18, (18, 29, 355, 447),
         "Sprint 2: lines 18, 355, 447 say COMPLETE; line 29 says Sprint 2 Epic 2 is IN PROGRESS"),
        (18, (18, 34, 355, 447), "Sprint 2: lines 18, 355, 447 say COMPLETE; line 34 says Sprint 2 Epic 3 is PENDING"),
        (29, (29, 353, 396, 453), "Sprint 2 Epic 2: lines 353, 396, 453 say COMPLETE; line 29 says IN PROGRESS"),
        (34, (34, 354, 423, 454), "Sprint 2 Epic 3: lines 354, 423, 454 say COMPLETE; line 34 says PENDING"),
        (67, (67, 244), "data/raw/neurosynth_full_12k/: line 67 says it was created "
                        "(data/raw/neurosynth_full_12k.pkl.gz); line 244 says it is not yet created"),
        (68, (68, 243), "data/raw/neurosynth_subset_1k/: line 68 says it was created "
                        "(data/raw/neurosynth_subset_1k.pkl.gz); line 243 says it is not yet created"),
        (89, (89, 472), "it/s: line 89 says 0.17; line 472 says 0.07"),
        (102, (102, 345, 529), "MSE: lines 102, 345 say 0.1116; line 529 says 0.0939"),
        (102, (102, 345, 531), "Diversity: lines 102, 345 say 8.67; line 531 says 0.295"),
        (113, (113, 248, 249, 250), "train/val/test split in studies: line 113 says 700/150/150 studies; "
                                    "lines 248, 249, 250 say 70/15/15 studies"),
        (133, (133, 191, 193, 194, 216), "line 133 says mocks were removed or are absent; lines 191, 193, 194, 216 "
                                         "describe mock implementations in use"),
        (169, (169, 470), "Sprint 1 Epic 2: line 169 says Complete; line 470 says Sprint 1 Epic 2 is the work in "
                          "progress"),
    ]
    assert got == [("claim-inconsistent", *e) for e in expected]


def test_progress_tracker_consistent_counts_raise_nothing():
    result = check_documents([SEEDS / "status-progress-tracker.md"])
    flagged = {ln for i in result.issues if i.severity != "info" for ln in i.lines}
    # Stated the same way each time: the DataModule's 12 tests, 8,066,409 ~ 8.1M parameters, 70/15/15 percentages.
    for line in (125, 140, 170, 231, 266, 502):
        assert line not in flagged
    params = [c for c in result.claims if c.kind == "params" and "resnet" in c.subject]
    assert [(c.line, c.status) for c in params] == [(231, "verified"), (502, "verified")]


def test_integration_summary_contradictions():
    got = _problems("status-integration-fixes.md")
    assert got == [
        ("claim-inconsistent", 5, (5, 155, 161, 167, 259),
         "line 5 gives the document's status as FIXED; lines 155, 161, 167, 259 list work still IN PROGRESS / TODO"),
        ("claim-inconsistent", 200, (200,),
         "line 200 says 2-4 hours for fixes + 4 weeks training = 5 weeks, but the parts add up to "
         "4.01 weeks to 4.02 weeks"),
        ("claim-inconsistent", 287, (287,),
         "line 287 states a total of 11-12 weeks; the parts on lines 283, 284, 285, 286 add up to "
         "9.02 weeks to 10.04 weeks"),
    ]


def test_integration_summary_is_mostly_expectation():
    result = check_documents([SEEDS / "status-integration-fixes.md"])
    info = [i for i in result.issues if i.severity == "info"]
    assert len(info) == 1
    for line in (6, 233, 248, 262, 316, 322, 335):  # confidence, expected accuracy, self-scores, "95% ready"
        assert line in info[0].lines
    four = next(c for c in result.claims if c.kind == "total" and c.line == 14)
    assert four.status == "verified"  # "FOUR world-class models" and four are listed


def test_mojibake_is_repaired_and_reported():
    result = check_documents([SEEDS / "status-progress-tracker.md", SEEDS / "status-integration-fixes.md"])
    assert [d.repaired for d in result.documents] == [
        "repaired 159 mojibake sequences (UTF-8 read as Mac Roman)",
        "repaired 84 mojibake sequences (UTF-8 read as Mac Roman)",
    ]
    texts = " ".join(c.text for c in result.claims)
    assert "✅" in texts and "β" in texts and "‚úÖ" not in texts


def test_hand_written_audit_report_has_no_self_contradiction():
    result = check_documents([SEEDS / "audit-report-invalid-training-run.md"])
    assert [i for i in result.issues if i.severity != "info"] == []
