"""The ``notifications`` table: rows of finished and troubled batches, claims for one attempt, outcomes.

A batch's end has one row per channel (``webhook``); each occurrence of a trouble event has one
per channel too (``webhook:paused:1``), its ``created_at`` being when the event happened.

``batch.engine.notify`` decides and sends; every read and write of its rows is here.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import CursorResult, insert, select, update
from sqlalchemy.orm import Session

from batch.core.states import TERMINAL
from batch.store.models import Batch, Job, Notification

DUE_BATCH = 100


def finished_unnotified(session: Session) -> list[tuple[int, dict[str, Any]]]:
    """(id, options) of the batches that asked for a notification, have no row yet and whose jobs are all terminal."""
    has_rows = select(Notification.id).where(Notification.batch_id == Batch.id,
                                             Notification.channel.not_like("%:%")).exists()
    candidates = session.execute(
        select(Batch.id, Batch.options).where(Batch.options["notify"].as_string().is_not(None), ~has_rows)
    ).all()
    if not candidates:
        return []
    open_ids = set(session.scalars(
        select(Job.batch_id).where(Job.batch_id.in_([c[0] for c in candidates]),
                                   Job.state.not_in([s.value for s in TERMINAL])).distinct()
    ))
    return [(batch_id, options) for batch_id, options in candidates if batch_id not in open_ids]


def parked_with_notify(session: Session) -> list[tuple[int, dict[str, Any]]]:
    """(id, options) of the batches that asked for notifications and are parked now (budget or pause)."""
    return [(batch_id, options) for batch_id, options in session.execute(
        select(Batch.id, Batch.options).where(Batch.options["notify"].as_string().is_not(None),
                                              Batch.options["parked_at"].as_float().is_not(None))
    ).all()]


def occurrences(session: Session, batch_id: int, event: str) -> set[float]:
    """When each recorded occurrence of ``event`` on the batch happened (the rows' ``created_at``)."""
    return set(session.scalars(
        select(Notification.created_at).where(Notification.batch_id == batch_id,
                                              Notification.channel.like(f"%:{event}:%")).distinct()
    ))


def add(session: Session, rows: list[dict[str, Any]]) -> None:
    """Insert notification rows (IntegrityError when the batch's channel has one already)."""
    session.execute(insert(Notification), rows)


def due(session: Session, now: float) -> list[int]:
    """Pending notifications due by ``now``, the longest waiting first (at most ``DUE_BATCH``)."""
    return list(session.scalars(
        select(Notification.id).where(Notification.state == "pending", Notification.next_attempt_at <= now)
        .order_by(Notification.next_attempt_at, Notification.id).limit(DUE_BATCH)
    ))


def claim(session: Session, note_id: int, now: float, lease_seconds: float) -> bool:
    """Take the row for one attempt by pushing its due time a lease ahead; False if someone else has it."""
    result: CursorResult[Any] = session.execute(  # type: ignore[assignment]
        update(Notification)
        .where(Notification.id == note_id, Notification.state == "pending", Notification.next_attempt_at <= now)
        .values(next_attempt_at=now + lease_seconds)
    )
    return bool(result.rowcount)


def with_batch(session: Session, note_id: int) -> tuple[Notification, Batch] | None:
    """The notification and its batch, or None if either is gone."""
    note = session.get(Notification, note_id)
    batch = session.get(Batch, note.batch_id) if note else None
    return (note, batch) if note is not None and batch is not None else None


def record(session: Session, note_id: int, **values: Any) -> None:
    """Write an attempt's outcome (state, attempts, errors, next attempt) on the row."""
    session.execute(update(Notification).where(Notification.id == note_id).values(**values))
