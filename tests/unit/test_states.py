"""The transition table: what may follow what."""

from __future__ import annotations

import pytest

from batch.core.states import ACTIVE, ALLOWED, IN_FLIGHT, TERMINAL, WAITING, JobState, check, sources_of
from batch.errors import IllegalTransition

S = JobState


@pytest.mark.parametrize(
    ("source", "target", "allowed"),
    [
        (S.PENDING, S.SUBMITTING, True),
        (S.SUBMITTING, S.QUEUED, True),
        (S.SUBMITTING, S.PENDING, True),      # answered error, or an uncertain submit resubmitted
        (S.SUBMITTING, S.HELD, True),
        (S.QUEUED, S.RUNNING, True),
        (S.RUNNING, S.DOWNLOADING, True),     # /result said succeeded
        (S.FETCHING, S.DOWNLOADING, True),
        (S.DOWNLOADING, S.SUCCEEDED, True),
        (S.FAILED, S.PENDING, True),          # retry
        (S.PENDING, S.QUEUED, False),         # never skip the write-ahead mark
        (S.PENDING, S.SUCCEEDED, False),
        (S.SUCCEEDED, S.PENDING, False),
        (S.CACHED, S.PENDING, False),
        (S.DOWNLOADING, S.PENDING, False),
        (S.HELD, S.QUEUED, False),
    ],
)
def test_transition_table(source: JobState, target: JobState, allowed: bool) -> None:
    assert (target in ALLOWED[source]) is allowed
    if allowed:
        check(source, target)
    else:
        with pytest.raises(ValueError, match="not allowed") as caught:  # still a ValueError for old callers
            check(source, target)
        assert isinstance(caught.value, IllegalTransition)
        assert (caught.value.source, caught.value.target) == (source, target)


def test_every_state_has_a_row_and_terminal_states_only_reopen_by_retry() -> None:
    assert set(ALLOWED) == set(JobState)
    for state in TERMINAL - {S.FAILED}:
        assert ALLOWED[state] <= {S.PENDING}
    assert ALLOWED[S.FAILED] == {S.PENDING, S.DOWNLOADING}  # a paid result is downloaded again, not resubmitted
    assert not (ACTIVE & TERMINAL)
    assert IN_FLIGHT <= ACTIVE


def test_sources_of_submitting_is_pending_only() -> None:
    assert sources_of(S.SUBMITTING) == {S.PENDING}


@pytest.mark.parametrize(
    ("source", "target", "allowed"),
    [
        (S.PENDING, S.PARKED, True),         # the budget was reached before its submit
        (S.PARKED, S.PENDING, True),         # resume
        (S.PARKED, S.CANCELLED, True),       # cancel
        (S.PARKED, S.SUBMITTING, False),     # never submitted straight from parked: resume first
        (S.SUBMITTING, S.PARKED, False),     # a POST may be on the wire: too late to park
        (S.QUEUED, S.PARKED, False),
    ],
)
def test_parked_is_entered_from_pending_and_left_by_resume_or_cancel(source: JobState, target: JobState,
                                                                     allowed: bool) -> None:
    assert (target in ALLOWED[source]) is allowed


def test_parked_waits_for_a_person_and_holds_no_upstream_slot() -> None:
    assert S.PARKED in WAITING and S.PARKED not in ACTIVE | IN_FLIGHT | TERMINAL
