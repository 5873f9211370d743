"""The ``schedule_runs`` table: one row per slot of a schedule, and the per-schedule lock.

``batch.schedules.firing`` decides what becomes of a slot; every read and write of its rows is
here. A slot's row is UNIQUE(schedule, slot_at): inserting it is how a beat owns the slot.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from enum import StrEnum

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session, sessionmaker

from batch.core.states import TERMINAL
from batch.store.models import Job, ScheduleRun


class RunState(StrEnum):
    """What became of a slot (``schedule_runs.state``)."""

    FIRED = "fired"
    SKIPPED = "skipped"
    QUEUED = "queued"
    FAILED = "failed"


_NOT_TERMINAL = [s.value for s in TERMINAL]


def add_run(session: Session, schedule: str, slot: float, state: RunState, detail: str | None,
            now: float) -> ScheduleRun:
    """Record the slot (flushed: IntegrityError here when it was recorded already)."""
    run = ScheduleRun(schedule=schedule, slot_at=slot, state=state.value, detail=detail, created_at=now)
    session.add(run)
    session.flush()
    return run


def settle(session: Session, run: ScheduleRun, state: RunState, *, batch_id: int | None = None,
           detail: str | None = None) -> None:
    """Write what became of a recorded slot: its state, its batch (if one was created) and why."""
    if batch_id is not None:
        run.batch_id = batch_id
    run.state, run.detail = state.value, detail
    session.flush()


def get_run(session: Session, run_id: int) -> ScheduleRun | None:
    """The run row, or None."""
    return session.get(ScheduleRun, run_id)


def oldest_queued(session: Session, name: str) -> int | None:
    """The id of the schedule's oldest queued slot, if any."""
    return session.scalars(
        select(ScheduleRun.id).where(ScheduleRun.schedule == name, ScheduleRun.state == RunState.QUEUED.value)
        .order_by(ScheduleRun.slot_at, ScheduleRun.id).limit(1)
    ).first()


def queued_count(session: Session, name: str) -> int:
    """How many slots of the schedule wait for its running batch to finish."""
    return int(session.scalar(select(func.count()).select_from(ScheduleRun)
                              .where(ScheduleRun.schedule == name, ScheduleRun.state == RunState.QUEUED.value))
               or 0)


def last_slot(session: Session, name: str) -> float | None:
    """The newest slot recorded for the schedule (fired, skipped, queued or failed)."""
    value = session.scalar(select(func.max(ScheduleRun.slot_at)).where(ScheduleRun.schedule == name))
    return None if value is None else float(value)


def newest_run(session: Session, name: str) -> ScheduleRun | None:
    """The schedule's newest run row, if any."""
    return session.scalars(select(ScheduleRun).where(ScheduleRun.schedule == name)
                           .order_by(ScheduleRun.slot_at.desc(), ScheduleRun.id.desc()).limit(1)).first()


def recorded(session: Session, name: str, slot: float) -> ScheduleRun | None:
    """The row of this slot, if recorded."""
    return session.scalars(
        select(ScheduleRun).where(ScheduleRun.schedule == name, ScheduleRun.slot_at == slot)
    ).first()


def unfinished(session: Session, batch_id: int) -> bool:
    """True while the batch has a job not terminal (held jobs count)."""
    return session.scalars(
        select(Job.id).where(Job.batch_id == batch_id, Job.state.not_in(_NOT_TERMINAL)).limit(1)
    ).first() is not None


def running_batch(session: Session, name: str) -> int | None:
    """A batch of this schedule that still has a job not terminal (held jobs count), if any."""
    return session.scalars(
        select(ScheduleRun.batch_id).join(Job, Job.batch_id == ScheduleRun.batch_id)
        .where(ScheduleRun.schedule == name, Job.state.not_in(_NOT_TERMINAL))
        .order_by(ScheduleRun.batch_id.desc()).limit(1)
    ).first()


def lock_key(name: str) -> int:
    """A stable signed 64-bit advisory-lock key for a schedule name."""
    return int.from_bytes(hashlib.sha256(f"nanobatch-schedule:{name}".encode()).digest()[:8], "big", signed=True)


@contextmanager
def locked(sessions: sessionmaker[Session], name: str) -> Iterator[tuple[Session, sessionmaker[Session]]]:
    """One transaction holding the schedule's lock (``pg_advisory_xact_lock`` on PostgreSQL, ``BEGIN
    IMMEDIATE`` on SQLite); ``create_batch`` joins it through the factory yielded with the session.

    The factory's sessions are bound to this transaction's connection and never commit it
    (``join_transaction_mode="rollback_only"``): everything commits together, or nothing does.
    """
    with sessions.kw["bind"].connect() as conn, conn.begin():
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": lock_key(name)})
        factory = sessionmaker(bind=conn, join_transaction_mode="rollback_only", expire_on_commit=False)
        with factory() as session:
            yield session, factory
