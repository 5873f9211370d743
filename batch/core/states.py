"""The job state machine: the state enum and the table of allowed transitions.

This module is pure. ``batch.store.transition`` is the one place that applies a transition to
the database, and it refuses any pair this table does not list.

    pending ──> submitting ──> queued ──> running ──> fetching ──> downloading ──> succeeded
     │ │ │          │  │          │          │           │              │
     │ │ │          │  └─> held   └──────────┴──> cancelled / failed <──┘
     │ │ └─> cached └─> pending (retry after an answered error, or an uncertain submit resubmitted)
     │ │                  failed ──> downloading (``retry`` of a paid result: downloaded again, not resubmitted)
     │ └─> parked ──> pending (``resume``) or cancelled
     ├─> pending (waits for an identical job under way instead of paying again: ``store.owners``)
     └─> cancelled / failed
"""

from __future__ import annotations

from enum import StrEnum

from batch.errors import IllegalTransition


class JobState(StrEnum):
    """Where a job is in its life. Stored as its string value."""

    PENDING = "pending"          # waiting for its turn to be submitted
    SUBMITTING = "submitting"    # write-ahead mark: a POST may be on the wire
    QUEUED = "queued"            # accepted upstream, waiting in the upstream queue
    RUNNING = "running"          # upstream is working on it
    FETCHING = "fetching"        # upstream finished; its result must be read
    DOWNLOADING = "downloading"  # outputs listed; files being downloaded and verified
    HELD = "held"                # an uncertain submit held for a person to decide
    PARKED = "parked"            # not submitted: the budget was reached (``resume`` goes on), or the rest of a
                                 # batch waits for its pilot's approval (``pilot approve``)
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    CACHED = "cached"            # an identical earlier job's verified file was reused


TERMINAL: frozenset[JobState] = frozenset(
    {JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED, JobState.CACHED}
)
# States a worker acts on when their next_action_at comes due.
ACTIVE: frozenset[JobState] = frozenset(
    {
        JobState.PENDING,
        JobState.SUBMITTING,
        JobState.QUEUED,
        JobState.RUNNING,
        JobState.FETCHING,
        JobState.DOWNLOADING,
    }
)
# States that wait for a person: ``retry --held`` or ``cancel``; ``resume`` or ``cancel``.
WAITING: frozenset[JobState] = frozenset({JobState.HELD, JobState.PARKED})
# States of a job that may still pay upstream and end with files: an identical job waits for it
# (``store.owners``) instead of paying again. Parked is not: it waits for a person, maybe forever.
UNDER_WAY: frozenset[JobState] = ACTIVE | {JobState.HELD}
# States in which a request exists (or may exist) upstream: they count against max_in_flight.
IN_FLIGHT: frozenset[JobState] = frozenset({JobState.SUBMITTING, JobState.QUEUED, JobState.RUNNING})

S = JobState
ALLOWED: dict[JobState, frozenset[JobState]] = {
    S.PENDING: frozenset({S.PENDING, S.SUBMITTING, S.CACHED, S.PARKED, S.CANCELLED, S.FAILED}),
    S.SUBMITTING: frozenset({S.QUEUED, S.PENDING, S.HELD, S.FAILED, S.CANCELLED}),
    S.QUEUED: frozenset({S.QUEUED, S.RUNNING, S.FETCHING, S.DOWNLOADING, S.CANCELLED, S.FAILED}),
    S.RUNNING: frozenset({S.RUNNING, S.FETCHING, S.DOWNLOADING, S.CANCELLED, S.FAILED}),
    S.FETCHING: frozenset({S.RUNNING, S.DOWNLOADING, S.SUCCEEDED, S.FAILED, S.CANCELLED}),
    S.DOWNLOADING: frozenset({S.SUCCEEDED, S.FAILED}),
    S.HELD: frozenset({S.PENDING, S.CANCELLED, S.FAILED}),
    S.PARKED: frozenset({S.PENDING, S.CANCELLED}),
    S.SUCCEEDED: frozenset(),
    S.FAILED: frozenset({S.PENDING, S.DOWNLOADING}),
    S.CANCELLED: frozenset({S.PENDING}),
    S.CACHED: frozenset(),
}


def sources_of(target: JobState) -> frozenset[JobState]:
    """Every state from which ``target`` may be reached."""
    return frozenset(src for src, targets in ALLOWED.items() if target in targets)


def check(source: JobState, target: JobState) -> None:
    """Raise ``IllegalTransition`` (a ValueError) if ``source -> target`` is not in the table."""
    if target not in ALLOWED[source]:
        raise IllegalTransition(source, target)


class StateCounts:
    """Totals derived from a ``counts`` mapping (state -> jobs); mixed into the batch summaries."""

    counts: dict[str, int]

    @property
    def total(self) -> int:
        """Every job."""
        return sum(self.counts.values())

    @property
    def finished(self) -> int:
        """Jobs in a terminal state."""
        return sum(n for s, n in self.counts.items() if JobState(s) in TERMINAL)

    @property
    def succeeded(self) -> int:
        """Jobs that have their files: succeeded or cached."""
        return self.counts.get(JobState.SUCCEEDED.value, 0) + self.counts.get(JobState.CACHED.value, 0)

    @property
    def failed(self) -> int:
        """Jobs that ended failed."""
        return self.counts.get(JobState.FAILED.value, 0)
