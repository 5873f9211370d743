"""What the batch's own jobs tell of upstream: run-time samples and queue sightings.

``batch.engine.runtime`` caches what these return and ``batch.core.timing`` turns it into
estimates; here are only the reads.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from batch.core.states import JobState
from batch.core.timing import Sighting
from batch.store.models import Job

ESTIMATE_SAMPLE = 200
QUEUE_MEMORY = 60.0  # queue sightings older than this many seconds are forgotten


def runtime_samples(session: Session, batch_id: int, now: float) -> tuple[list[float], list[float]]:
    """Seconds from submit to completion of the batch's latest finished jobs, and the ages of its
    jobs still upstream (censored samples: without them an early estimate is biased low)."""
    rows = session.execute(
        select(Job.completed_at - Job.submitted_at)
        .where(
            Job.batch_id == batch_id,
            Job.state.in_([JobState.SUCCEEDED.value, JobState.DOWNLOADING.value]),
            Job.completed_at.is_not(None),
            Job.uncertain_submits == 0,
        )
        .order_by(Job.completed_at.desc())
        .limit(ESTIMATE_SAMPLE)
    ).scalars()
    durations = [float(r) for r in rows if r is not None and r >= 0]
    started = session.execute(
        select(Job.submitted_at).where(
            Job.batch_id == batch_id,
            Job.state.in_([JobState.QUEUED.value, JobState.RUNNING.value]),
            Job.submitted_at.is_not(None),
        ).limit(ESTIMATE_SAMPLE * 25)
    ).scalars()
    return durations, [now - float(t) for t in started if t is not None]


def queue_sightings(session: Session, batch_id: int, now: float) -> tuple[Sighting, Sighting] | None:
    """The first and the latest sighting of the batch's jobs in upstream's queue within the last
    ``QUEUE_MEMORY`` seconds (whether or not those jobs have finished since); None without any."""
    sighted = select(Job.submitted_at, Job.queue_position, Job.position_at).where(
        Job.batch_id == batch_id, Job.position_at >= now - QUEUE_MEMORY, Job.queue_position > 0,
        Job.submitted_at.is_not(None)).limit(1)
    first = session.execute(sighted.order_by(Job.position_at)).first()
    last = session.execute(sighted.order_by(Job.position_at.desc())).first()
    if first is None or last is None:
        return None
    return _sighting(session, batch_id, *first), _sighting(session, batch_id, *last)


def _sighting(session: Session, batch_id: int, submitted_at: Any, position: Any, seen_at: Any) -> Sighting:
    """A job's sighting in upstream's queue, with its place in the batch's submit order."""
    rank = session.scalar(select(func.count()).where(Job.batch_id == batch_id, Job.submitted_at < submitted_at))
    return Sighting(int(rank or 0), int(position), float(seen_at))


def nth_submit_time(session: Session, batch_id: int, place: int) -> float | None:
    """When the batch's ``place``-th job (0 = first, in submit order) was submitted; None past the last."""
    value = session.scalar(select(Job.submitted_at).where(Job.batch_id == batch_id)
                           .where(Job.submitted_at.is_not(None))
                           .order_by(Job.submitted_at).offset(place).limit(1))
    return None if value is None else float(value)
