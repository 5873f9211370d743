"""The tick: find due jobs, lease them, hand them to workers.

Runs periodically (Celery beat, or the in-process ``drain`` loop in tests and benchmarks).
Submits are claimed only up to the free upstream slots (``max_in_flight``, the lowest of the
configuration and the manifest); everything else that is due is claimed as it comes due.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable

from sqlalchemy import select

from batch import store
from batch.db import transaction
from batch.models import Job
from batch.runtime import Runtime
from batch.states import ACTIVE, TERMINAL, JobState

Dispatch = Callable[[int, str], None]
MAX_CLAIM = 500


def tick(rt: Runtime, dispatch: Dispatch, *, owner: str | None = None) -> int:
    """Claim every due job this tick may take and dispatch each with its lease; returns how many."""
    owner = owner or uuid.uuid4().hex
    now = rt.clock()
    lease = store.Lease(owner, now + rt.settings.lease_seconds)
    claimed: list[int] = []
    with transaction(rt.sessions) as session:
        others = [s for s in ACTIVE if s is not JobState.PENDING]
        claimed += store.claim(session, job_states=others, now=now, lease=lease, limit=MAX_CLAIM)
        in_flight = store.in_flight_counts(session, now)
        free_global = rt.settings.max_in_flight - sum(in_flight.values())
        for batch in store.batches_with_due_pending(session, now):
            cap = min(rt.settings.max_in_flight, batch.max_in_flight or rt.settings.max_in_flight)
            slots = min(free_global, cap - in_flight.get(batch.id, 0), MAX_CLAIM)
            got = store.claim(session, job_states=[JobState.PENDING], now=now, lease=lease,
                              limit=slots, batch_id=batch.id)
            free_global -= len(got)
            claimed += got
    for job_id in claimed:
        dispatch(job_id, owner)
    return len(claimed)


def unfinished(rt: Runtime, batch_id: int) -> int:
    """How many jobs of the batch are not terminal (held jobs count: they wait for a person)."""
    with rt.sessions() as session:
        states = session.scalars(select(Job.state).where(Job.batch_id == batch_id)).all()
    return sum(1 for s in states if JobState(s) not in TERMINAL)


def drain(rt: Runtime, batch_id: int, *, timeout: float = 120.0, idle_sleep: float = 0.05) -> None:
    """Run ticks and steps in this process until the batch has no active job (tests, benchmarks).

    The arq-style "burst" worker: deterministic, no Celery. Raises TimeoutError if it overruns.
    """
    from batch.steps import advance

    deadline = time.monotonic() + timeout
    while _active_left(rt, batch_id):
        if time.monotonic() > deadline:
            raise TimeoutError(f"batch {batch_id} still has active jobs after {timeout} s")
        if tick(rt, lambda job_id, owner: advance(rt, job_id, owner)) == 0:
            time.sleep(idle_sleep)


def _active_left(rt: Runtime, batch_id: int) -> bool:
    with rt.sessions() as session:
        row = session.scalars(
            select(Job.id).where(Job.batch_id == batch_id, Job.state.in_([s.value for s in ACTIVE])).limit(1)
        ).first()
    return row is not None
