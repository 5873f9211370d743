"""Recent batches at a glance: what ``nanobatch status`` (no batch given) lists."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from batch.core.states import StateCounts
from batch.store.models import Batch, Job

DEFAULT_LIMIT = 20


def iso_utc(at: float | None) -> str | None:
    """UNIX seconds as ISO-8601 UTC (``2025-01-31T12:00:00Z``); None stays None."""
    if at is None:
        return None
    return datetime.fromtimestamp(at, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class BatchSummary(StateCounts):
    """One line of the batch list: counts by state and what it cost so far."""

    batch_id: int
    name: str
    created_at: float
    counts: dict[str, int]
    cost: float

    @property
    def done(self) -> int:
        """Jobs in a terminal state (the list's "done" column)."""
        return self.finished

    def as_json(self) -> dict[str, Any]:
        """One element of the ``status --json`` list."""
        return {"batch_id": self.batch_id, "name": self.name, "created_at": iso_utc(self.created_at),
                "total": self.total, "done": self.done, "succeeded": self.succeeded, "failed": self.failed,
                "counts": self.counts, "cost_usd": round(self.cost, 6)}


def list_batches(sessions: sessionmaker[Session], *, limit: int = DEFAULT_LIMIT) -> list[BatchSummary]:
    """The ``limit`` most recent batches, newest first, each with its counts by state and cost."""
    with sessions() as session:
        batches = session.execute(
            select(Batch.id, Batch.name, Batch.created_at, Batch.charged_usd).order_by(Batch.id.desc()).limit(limit)
        ).all()
        ids = [row.id for row in batches]
        rows = session.execute(
            select(Job.batch_id, Job.state, func.count())
            .where(Job.batch_id.in_(ids))
            .group_by(Job.batch_id, Job.state)
        ).all() if ids else []
    counts: dict[int, dict[str, int]] = {i: {} for i in ids}
    for batch_id, state, count in rows:
        counts[batch_id][state] = int(count)
    return [BatchSummary(b.id, b.name, b.created_at, counts[b.id], b.charged_usd) for b in batches]
