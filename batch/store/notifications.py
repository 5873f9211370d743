"""The ``notifications`` table: rows of finished batches, claims for one attempt, outcomes.

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
                                             Notification.channel.not_like("pilot-%")).exists()
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
