"""The reads and claim conditions of the tick (``batch.engine.tick``): which batches have first
polls to bring forward, which of their jobs qualify, and what the claimed jobs need next.

The claims themselves (the leasing UPDATEs) are ``batch.store.jobs.claim``; the conditions here
are passed to it as its ``where``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import and_, not_, or_, select
from sqlalchemy.orm import Session

from batch.core.pacing import FirstPolls
from batch.core.states import ACTIVE, JobState
from batch.store.models import Batch, Job

S = JobState


def claimed_rows(session: Session, job_ids: Sequence[int]) -> list[tuple[int, str, float, int, float | None]]:
    """(id, state, next_action_at, batch id, submitted_at) of the jobs, oldest submit first."""
    rows = session.execute(select(Job.id, Job.state, Job.next_action_at, Job.batch_id, Job.submitted_at)
                           .where(Job.id.in_(job_ids)).order_by(Job.submitted_at, Job.id)).all()
    return [(job_id, state, due, batch_id, submitted) for job_id, state, due, batch_id, submitted in rows]


def batches_awaiting_polls(session: Session) -> tuple[set[int], set[int]]:
    """Batches with queued jobs not polled since their submit or seen waiting in upstream's queue,
    and among them those with jobs not polled since their submit."""
    never_polled = Job.upstream_status.is_(None)
    rows = session.execute(select(Job.batch_id, never_polled).where(
        Job.state == S.QUEUED.value, or_(never_polled, Job.upstream_status == "in_queue")).distinct()).all()
    return {batch_id for batch_id, _ in rows}, {batch_id for batch_id, new in rows if new}


def first_poll_candidates(first: FirstPolls, due_by: float) -> Any:
    """Jobs not polled since their submit, submitted by ``first.submitted_by``; behind a queue, also
    those waiting at a position the queue reaches by ``due_by`` at its pace (a wait set before the
    pace was known may be far longer)."""
    never_polled = and_(Job.upstream_status.is_(None), Job.submitted_at <= first.submitted_by)
    if first.spacing is None:
        return never_polled
    reached = and_(Job.upstream_status == "in_queue", Job.queue_position > 0,
                   Job.position_at + Job.queue_position * first.spacing <= due_by)
    return or_(never_polled, reached)


def not_first_polls_in_queue(firsts: Sequence[FirstPolls]) -> Any:
    """Leaves the not-yet-polled jobs of batches moving through upstream's queue to the first-poll claim."""
    paced = [f.batch_id for f in firsts if f.spacing is not None]
    if not paced:
        return None
    return not_(and_(Job.batch_id.in_(paced), Job.state == S.QUEUED.value, Job.upstream_status.is_(None)))


def batches_by_id(session: Session, ids: set[int]) -> dict[int, Batch]:
    """The batches, detached from the session (read after it closes)."""
    if not ids:
        return {}
    found = session.scalars(select(Batch).where(Batch.id.in_(ids))).all()
    for batch in found:
        session.expunge(batch)
    return {b.id: b for b in found}


def active_left(session: Session, batch_id: int) -> bool:
    """True while the batch has an active job (parked and held jobs are not active: they wait for a person)."""
    row = session.scalars(
        select(Job.id).where(Job.batch_id == batch_id, Job.state.in_([s.value for s in ACTIVE])).limit(1)
    ).first()
    return row is not None
