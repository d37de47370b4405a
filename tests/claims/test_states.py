"""Completion states of named items: conflicts found with their lines, consistent trackers left alone."""

from __future__ import annotations

from claims_tools import issues_of

TRACKER = """
# Sprint tracker

**Current Sprint**: Sprint 2 - Training

| Sprint | Status |
|--------|--------|
| Sprint 1 | Complete |
| Sprint 2 | **IN PROGRESS** |
| Sprint 3 | Not Started |

## Sprint 1 - Epic 1: Data (Complete)
- [x] **S1.1.1**: download script
- [x] **S1.1.2**: deduplication

## Sprint 2 board
- [x] **S2.1.1**: model
- [ ] **S2.1.2**: training loop
"""


def test_consistent_tracker_gives_no_finding(check):
    result = check(TRACKER)
    assert result.issues == []
    states = {(c.subject, c.value) for c in result.claims if c.kind == "state"}
    assert ("Sprint 1", "done") in states
    assert ("Sprint 2", "active") in states
    assert ("S2.1.2", "open") in states
    assert ("Sprint 1 Epic 1", "done") in states


CONFLICTS = """
# Progress

**Current Sprint**: Sprint 1 - Data Foundation
**Overall Progress**: S1.2.4 IN PROGRESS

| Sprint | Status |
|--------|--------|
| Sprint 1 | Complete |
| Sprint 2 | ACTIVE |

## Sprint 1 - Epic 2: Baseline (100% Complete)
- [x] **S1.2.4**: training script

## Sprint 2 Epic 3
1. **[PENDING] Sprint 2 Epic 3**: dashboard

### Summary of Sprint 2
- **Epic 3**: ✅ COMPLETE (2/2 tickets)
"""


def test_conflicting_states_are_pinned_to_their_lines(check):
    result = check(CONFLICTS)
    msgs = {i.line: i.message for i in result.issues}
    assert issues_of(result) == [
        ("claim-inconsistent", 3, [3, 8]),  # Sprint 1 current (line 3) vs Complete (line 8)
        ("claim-inconsistent", 3, [3, 9]),  # current sprint is Sprint 1, yet Sprint 2 ACTIVE
        ("claim-inconsistent", 4, [4, 12]),  # S1.2.4 IN PROGRESS vs [x]
        ("claim-inconsistent", 15, [15, 18]),  # Sprint 2 Epic 3 PENDING vs COMPLETE
    ]
    assert msgs[4] == "S1.2.4: line 12 says [x] (COMPLETE); line 4 says IN PROGRESS"
    assert msgs[15] == "Sprint 2 Epic 3: line 18 says COMPLETE; line 15 says PENDING"
    status = {(c.subject, c.line): c.status for c in result.claims if c.kind == "state"}
    assert status[("S1.2.4", 12)] == "inconsistent"
    assert status[("Sprint 1 Epic 2", 11)] == "unchecked"


def test_sprint_complete_while_an_epic_is_open(check):
    doc = """
    # Status
    - **Sprint 4**: COMPLETE
    - [IN PROGRESS] Sprint 4 Epic 2: hardening
    """
    result = check(doc)
    assert issues_of(result) == [("claim-inconsistent", 2, [2, 3])]
    assert result.issues[0].message == "Sprint 4: line 2 says COMPLETE; line 3 says Sprint 4 Epic 2 is IN PROGRESS"


NOTEBOOK_NOTES = """
# Notebook review notes

- Cell 12: COMPLETE - loads the data
- Cell 53: DEFERRED - evaluation postponed to next sprint
- Exp 3: DONE

## Wrap-up
- ✅ Cell 53 evaluation metrics
- Exp 3: DONE, reproduced
"""


def test_notebook_cell_deferred_then_claimed_done(check):
    result = check(NOTEBOOK_NOTES)
    assert issues_of(result) == [("claim-inconsistent", 4, [4, 8])]
    assert result.issues[0].message == "Cell 53: line 8 says ✅ (COMPLETE); line 4 says DEFERRED"


def test_requirements_and_plans_are_not_states(check):
    doc = """
    # Criteria
    - Tickets S1.1.1-S1.1.5 must achieve 100% PASS status
    - S1.1.1 will be complete by Friday
    - [x] **S1.1.1**: done
    """
    result = check(doc)
    assert issues_of(result, "claim-inconsistent") == []
    assert [(c.subject, c.line) for c in result.claims if c.kind == "state"] == [("S1.1.1", 4)]


def test_document_status_fixed_while_items_are_todo(check):
    doc = """
    # Integration fixes
    **Status:** ALL ISSUES FIXED
    **Date:** 2025-01-01

    ## Remaining work
    1. **Update the batch format** TODO
    2. **Wire the loop** TODO

    ## Optional
    3. **Physics losses** TODO
    """
    result = check(doc)
    assert issues_of(result) == [("claim-inconsistent", 2, [2, 6, 7])]
    assert result.issues[0].message == "line 2 gives the document's status as FIXED; lines 6, 7 list work still TODO"


def test_document_status_fixed_with_nothing_open_is_fine(check):
    doc = """
    # Integration fixes
    **Status:** FIXED

    ## Done
    1. **Update the batch format** DONE
    """
    assert check(doc).issues == []
