"""SQLAlchemy 2 typed models: batches, jobs, outputs and job events.

Times are UNIX seconds (float) so that the clock can be injected and compared portably on
SQLite and PostgreSQL alike.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator

from batch.core.cost import Money, from_micros, to_micros


class Micros(TypeDecorator[Decimal]):
    """Money: an integer of micro-dollars in the database, exact ``Decimal`` dollars in Python.

    BIGINT, not INTEGER: PostgreSQL's INTEGER would end at $2,147 of micro-dollars.
    """

    impl = BigInteger
    cache_ok = True

    def process_bind_param(self, value: Money | None, dialect: Dialect) -> int | None:
        """Dollars (Decimal, int, float or str) -> micro-dollars."""
        return None if value is None else to_micros(value)

    def process_result_value(self, value: int | None, dialect: Dialect) -> Decimal | None:
        """Micro-dollars -> Decimal dollars."""
        return None if value is None else from_micros(value)


class Base(DeclarativeBase):
    """Declarative base: ``Base.metadata`` is the declared schema the migrations must match."""


class Batch(Base):
    """One manifest submitted once."""

    __tablename__ = "batches"
    __table_args__ = ({"sqlite_autoincrement": True},)  # SQLite: an id is never handed out twice (after a prune)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    manifest_path: Mapped[str] = mapped_column(Text)
    output_dir: Mapped[str] = mapped_column(Text)
    created_at: Mapped[float] = mapped_column(Float)
    finished_at: Mapped[float | None] = mapped_column(Float, default=None)
    cancelled_at: Mapped[float | None] = mapped_column(Float, default=None)
    requests_per_second: Mapped[float | None] = mapped_column(Float, default=None)
    submits_per_second: Mapped[float | None] = mapped_column(Float, default=None)
    max_in_flight: Mapped[int | None] = mapped_column(Integer, default=None)
    # money columns hold integer micro-dollars (``Micros``); Python sees Decimal dollars
    budget_usd: Mapped[Decimal | None] = mapped_column(Micros, default=None)
    charged_usd: Mapped[Decimal] = mapped_column(Micros, default=Decimal(0), server_default="0")  # sum of costs
    options: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)

    jobs: Mapped[list[Job]] = relationship(back_populates="batch", lazy="raise")


class Job(Base):
    """One edit request: its inputs, where it is, and what it cost."""

    __tablename__ = "jobs"
    __table_args__ = (
        UniqueConstraint("batch_id", "key", name="uq_jobs_batch_key"),
        Index("ix_jobs_due", "state", "next_action_at"),
        Index("ix_jobs_batch_state", "batch_id", "state"),
        Index("ix_jobs_fingerprint_finished", "fingerprint", "state", "finished_at"),  # the cache's lookup
        Index("ix_jobs_batch_submitted", "batch_id", "submitted_at"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    batch_id: Mapped[int] = mapped_column(ForeignKey("batches.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(300))
    state: Mapped[str] = mapped_column(String(20))
    inputs: Mapped[dict[str, Any]] = mapped_column(JSON)
    # per image_urls entry: the local path the manifest wrote, or null (None: no local input at all)
    input_sources: Mapped[list[str | None] | None] = mapped_column(JSON, default=None)
    output_name: Mapped[str] = mapped_column(Text)
    fingerprint: Mapped[str] = mapped_column(String(64))
    next_action_at: Mapped[float] = mapped_column(Float)
    lease_owner: Mapped[str | None] = mapped_column(String(64), default=None)
    lease_until: Mapped[float | None] = mapped_column(Float, default=None)
    request_id: Mapped[str | None] = mapped_column(String(200), default=None)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    submits: Mapped[int] = mapped_column(Integer, default=0)
    polls: Mapped[int] = mapped_column(Integer, default=0)
    uncertain_submits: Mapped[int] = mapped_column(Integer, default=0)
    upstream_status: Mapped[str | None] = mapped_column(String(20), default=None)
    queue_position: Mapped[int | None] = mapped_column(Integer, default=None)
    position_at: Mapped[float | None] = mapped_column(Float, default=None)  # when upstream gave that position
    result_urls: Mapped[list[str] | None] = mapped_column(JSON, default=None)
    result_raw: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)  # upstream's final /result answer
    cost: Mapped[Decimal | None] = mapped_column(Micros, default=None)  # as upstream reported it
    # a cost upstream gave that is no amount of one job (1e30, -98.95), as its JSON text; ``cost`` stays None
    odd_cost: Mapped[str | None] = mapped_column(Text, default=None)
    error: Mapped[str | None] = mapped_column(Text, default=None)
    created_at: Mapped[float] = mapped_column(Float)
    submitted_at: Mapped[float | None] = mapped_column(Float, default=None)
    completed_at: Mapped[float | None] = mapped_column(Float, default=None)
    finished_at: Mapped[float | None] = mapped_column(Float, default=None)
    # pending, not submitted: an identical job (this one) is in flight upstream; its files will be copied
    waiting_on: Mapped[int | None] = mapped_column(Integer, default=None)
    # the pilot: a job of the sample that runs first (the rest waits parked for its approval)
    pilot: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    style: Mapped[str | None] = mapped_column(String(200), default=None)  # the matrix style it comes from
    variant: Mapped[str | None] = mapped_column(String(100), default=None)  # the style's prompt variant it tries

    batch: Mapped[Batch] = relationship(back_populates="jobs", lazy="raise")


class Output(Base):
    """One verified file on disk produced by a job."""

    __tablename__ = "outputs"
    __table_args__ = (UniqueConstraint("job_id", "idx", name="uq_outputs_job_idx"), {"sqlite_autoincrement": True})

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), index=True)
    idx: Mapped[int] = mapped_column(Integer)
    path: Mapped[str] = mapped_column(Text)
    url: Mapped[str | None] = mapped_column(Text, default=None)
    bytes: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    format: Mapped[str] = mapped_column(String(10))
    # the copy in the batch's bucket: reference, size and ETag as the store reported them after upload
    object_url: Mapped[str | None] = mapped_column(Text, default=None)
    object_bytes: Mapped[int | None] = mapped_column(Integer, default=None)
    object_etag: Mapped[str | None] = mapped_column(String(200), default=None)


class JobEvent(Base):
    """The audit trail: one row per state transition."""

    __tablename__ = "job_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), index=True)
    from_state: Mapped[str | None] = mapped_column(String(20))
    to_state: Mapped[str] = mapped_column(String(20))
    at: Mapped[float] = mapped_column(Float)
    detail: Mapped[str | None] = mapped_column(Text, default=None)


class ScheduleRun(Base):
    """One slot of a schedule, recorded before anything is started: the unique row is the dedup.

    ``state`` is ``fired`` (``batch_id`` made), ``skipped`` (the overlap policy said so),
    ``queued`` (waits for the schedule's previous batch) or ``failed`` (the manifest could not be
    loaded; ``detail`` says why). ``slot_at`` is a whole UNIX second.
    """

    __tablename__ = "schedule_runs"
    __table_args__ = (UniqueConstraint("schedule", "slot_at", name="uq_schedule_runs_slot"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    schedule: Mapped[str] = mapped_column(String(200))
    slot_at: Mapped[float] = mapped_column(Float)
    batch_id: Mapped[int | None] = mapped_column(ForeignKey("batches.id", ondelete="SET NULL"), default=None)
    state: Mapped[str] = mapped_column(String(20))
    detail: Mapped[str | None] = mapped_column(Text, default=None)
    created_at: Mapped[float] = mapped_column(Float)


class Notification(Base):
    """One notification on one channel (``webhook`` or ``command``) and its delivery.

    ``channel`` is the channel for the batch's end, ``<channel>:<event>:<n>`` for the n-th
    occurrence of a trouble event (``created_at`` then being when it happened). ``state``:
    ``pending`` (due at ``next_attempt_at``), ``sent``, ``failed`` (attempts spent) or ``skipped``
    (an end ``notify: on:`` does not ask for). The unique (batch, channel) pair means each is sent once.
    """

    __tablename__ = "notifications"
    __table_args__ = (
        UniqueConstraint("batch_id", "channel", name="uq_notifications_batch_channel"),
        Index("ix_notifications_due", "state", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    batch_id: Mapped[int] = mapped_column(ForeignKey("batches.id", ondelete="CASCADE"))
    channel: Mapped[str] = mapped_column(String(20))
    state: Mapped[str] = mapped_column(String(20))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[float] = mapped_column(Float)
    last_error: Mapped[str | None] = mapped_column(Text, default=None)
    created_at: Mapped[float] = mapped_column(Float)
    sent_at: Mapped[float | None] = mapped_column(Float, default=None)


class Review(Base):
    """One person's decision on a job's output (``idx``) or on the whole job (``idx`` None).

    Rows are never updated: a new decision is a new row, the latest one (highest id) wins and the
    earlier ones are the history. ``decision`` is ``approved`` or ``rejected``.
    """

    __tablename__ = "reviews"
    __table_args__ = (Index("ix_reviews_job", "job_id", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"))
    idx: Mapped[int | None] = mapped_column(Integer, default=None)
    decision: Mapped[str] = mapped_column(String(10))
    note: Mapped[str | None] = mapped_column(Text, default=None)
    who: Mapped[str] = mapped_column(String(100))
    at: Mapped[float] = mapped_column(Float)


class Rerun(Base):
    """A job made to run a rejected job again: the new job (``job_id``) and the one it redoes.

    The rejected job keeps its row, outputs and reviews; the new job writes to its own file.
    """

    __tablename__ = "reruns"

    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), primary_key=True)
    rerun_of: Mapped[int] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), index=True)
    at: Mapped[float] = mapped_column(Float)


class FingerprintOwner(Base):
    """Which job pays for a fingerprint (one edit) while it is under way: one row per fingerprint.

    A job takes the row just before its submit (``store.owners.take``): the primary key makes two
    identical jobs that try at once agree on one payer; the other waits for its files. The row passes
    to another job once its owner is no longer under way (``core.states.UNDER_WAY``).
    """

    __tablename__ = "fingerprint_owners"

    fingerprint: Mapped[str] = mapped_column(String(64), primary_key=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), index=True)
    taken_at: Mapped[float] = mapped_column(Float)
class SheetEntry(Base):
    """Where a job sits on the contact sheet: its item and style, and its place in each order.

    A derived index, filled by the web app for jobs it has not seen yet (``store.sheet``), so that a
    page of a 100,000-job sheet is one indexed query rather than a sort of every job in Python.
    ``item_rank``/``style_rank``: the order in which the batch first shows each item and style;
    ``root``/``attempt``: the job's key without ``~rN`` and its attempt, so a rerun sits beside
    the job it redoes.
    """

    __tablename__ = "sheet_entries"
    __table_args__ = (
        Index("ix_sheet_item_order", "batch_id", "item_rank", "root", "attempt", "job_id"),
        Index("ix_sheet_style_order", "batch_id", "style_rank", "root", "attempt", "job_id"),
        Index("ix_sheet_plain_order", "batch_id", "root", "attempt", "job_id"),
        Index("ix_sheet_item_hash", "batch_id", "item_hash"),
        Index("ix_sheet_batch_job", "batch_id", "job_id"),
    )

    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), primary_key=True)
    batch_id: Mapped[int] = mapped_column(ForeignKey("batches.id", ondelete="CASCADE"))
    item_hash: Mapped[str] = mapped_column(String(64))
    item: Mapped[str] = mapped_column(Text)
    item_label: Mapped[str] = mapped_column(Text)
    item_rank: Mapped[int] = mapped_column(Integer)
    style: Mapped[str] = mapped_column(String(300))
    style_rank: Mapped[int] = mapped_column(Integer)
    root: Mapped[str] = mapped_column(String(300))
    attempt: Mapped[int] = mapped_column(Integer)
