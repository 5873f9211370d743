"""The reads behind the Prometheus gauges (``batch.metrics``): per batch, and the database queue.

Read at scrape time: the database is the truth for states and spend, whichever process serves.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from batch.core.states import TERMINAL, WAITING
from batch.store.models import Batch, Job


@dataclass
class BatchGauges:
    """One batch's jobs by state, uncertain submits, spend and budget."""

    batch_id: int
    name: str
    charged_usd: Decimal
    budget_usd: Decimal | None
    counts: dict[str, int] = field(default_factory=dict)
    uncertain_submits: int = 0


def recent_batches(session: Session, limit: int) -> list[BatchGauges]:
    """The ``limit`` newest batches with their jobs counted by state (two queries)."""
    batches = {row.id: BatchGauges(row.id, row.name, row.charged_usd or Decimal(0), row.budget_usd)
               for row in session.execute(select(Batch.id, Batch.name, Batch.charged_usd, Batch.budget_usd)
                                          .order_by(Batch.id.desc()).limit(limit))}
    if not batches:
        return []
    rows = session.execute(
        select(Job.batch_id, Job.state, func.count(), func.coalesce(func.sum(Job.uncertain_submits), 0))
        .where(Job.batch_id.in_(list(batches))).group_by(Job.batch_id, Job.state)
    ).all()
    for batch_id, state, count, uncertain in rows:
        batches[batch_id].counts[state] = int(count)
        batches[batch_id].uncertain_submits += int(uncertain)
    return list(batches.values())


def due_jobs(session: Session, now: float) -> int:
    """Jobs the tick would hand out now: not ended, not waiting for a person, due by ``now``."""
    idle = [s.value for s in (*TERMINAL, *WAITING)]
    return int(session.scalar(select(func.count()).where(Job.state.not_in(idle), Job.next_action_at <= now)) or 0)
