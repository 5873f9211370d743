"""Deleting old batches' rows (``nanobatch prune``): which batches qualify, and the deletes themselves.

A batch qualifies when it was created before the cutoff and every one of its jobs is terminal
and finished before the cutoff. Deletes touch only terminal jobs, so a job that someone moves
back (``retry``) while a prune runs stays, and so does its batch.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import CursorResult, delete, func, or_, select
from sqlalchemy.orm import Session

from batch.core.states import TERMINAL
from batch.store.models import Batch, Job, JobEvent, Notification, Output, SheetEntry

_TERMINAL = [s.value for s in TERMINAL]


@dataclass(frozen=True)
class OldBatch:
    """A batch that may be pruned, with how many jobs it holds."""

    batch_id: int
    name: str
    created_at: float
    jobs: int
    output_dir: str = ""


def old_batches(session: Session, cutoff: float) -> list[OldBatch]:
    """Batches created before ``cutoff`` whose jobs are all terminal and finished before it, oldest first."""
    recent_or_open = select(Job.id).where(
        Job.batch_id == Batch.id,
        or_(Job.state.not_in(_TERMINAL), Job.finished_at.is_(None), Job.finished_at >= cutoff)).exists()
    jobs = select(func.count()).where(Job.batch_id == Batch.id).scalar_subquery()
    rows = session.execute(
        select(Batch.id, Batch.name, Batch.created_at, jobs, Batch.output_dir)
        .where(Batch.created_at < cutoff, ~recent_or_open).order_by(Batch.id)
    ).all()
    return [OldBatch(batch_id, name, created_at, int(count), output_dir or "")
            for batch_id, name, created_at, count, output_dir in rows]


def terminal_job_ids(session: Session, batch_id: int, limit: int) -> list[int]:
    """Up to ``limit`` ids of the batch's terminal jobs."""
    return list(session.scalars(
        select(Job.id).where(Job.batch_id == batch_id, Job.state.in_(_TERMINAL)).order_by(Job.id).limit(limit)))


def output_files(session: Session, job_ids: Sequence[int]) -> list[tuple[str, int, str]]:
    """The recorded files of these jobs: (path, bytes, sha256)."""
    if not job_ids:
        return []
    rows = session.execute(select(Output.path, Output.bytes, Output.sha256).where(Output.job_id.in_(job_ids)))
    return [(path, size, sha256) for path, size, sha256 in rows]


def delete_jobs(session: Session, job_ids: Sequence[int]) -> tuple[int, int, int]:
    """Delete these jobs (if still terminal) with their events and outputs; (jobs, events, outputs) deleted."""
    if not job_ids:
        return 0, 0, 0
    kept = select(Job.id).where(Job.id.in_(job_ids), Job.state.in_(_TERMINAL))
    events = _count(session.execute(delete(JobEvent).where(JobEvent.job_id.in_(kept))))
    outputs = _count(session.execute(delete(Output).where(Output.job_id.in_(kept))))
    session.execute(delete(SheetEntry).where(SheetEntry.job_id.in_(kept)))
    jobs = _count(session.execute(delete(Job).where(Job.id.in_(job_ids), Job.state.in_(_TERMINAL))))
    return jobs, events, outputs


def delete_batch(session: Session, batch_id: int) -> int:
    """Delete the batch's notifications and the batch itself if it has no job left; notifications deleted
    (-1 when the batch was kept because jobs remain)."""
    if session.scalar(select(Job.id).where(Job.batch_id == batch_id).limit(1)) is not None:
        return -1
    notes = _count(session.execute(delete(Notification).where(Notification.batch_id == batch_id)))
    session.execute(delete(Batch).where(Batch.id == batch_id))  # schedule runs keep their row (SET NULL)
    return notes


def still_recorded(session: Session, paths: Sequence[str]) -> set[str]:
    """Those of ``paths`` that an output row (of a kept job) still records."""
    return set(session.scalars(select(Output.path).where(Output.path.in_(paths)).distinct())) if paths else set()


def _count(result: Any) -> int:
    cursor: CursorResult[Any] = result
    return int(cursor.rowcount or 0)
