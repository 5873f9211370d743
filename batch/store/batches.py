"""Batch rows: create a batch with its jobs, and the writes of operations (budget, cancel marks).

Job state is still written only through ``batch.store.jobs``; here are the batch's own columns.
What a new batch holds (its folder, budget, fingerprints, pilot sample, the jobs failed before
submit) is decided from its manifest in ``batch.commands.batches``; this module writes plain values.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from sqlalchemy import insert
from sqlalchemy.orm import Session, sessionmaker

from batch.core.cost import usd
from batch.core.states import JobState
from batch.store.db import transaction
from batch.store.models import Batch, Job
from batch.store.pilot import start as start_pilot
from batch.store.rejects import fail_unsubmitted

INSERT_CHUNK = 5_000


@dataclass(frozen=True)
class NewBatch:
    """The batch row to write, as ``commands/batches`` decided it (name, folder, limits, budget, options)."""

    name: str
    manifest_path: str
    output_dir: str
    requests_per_second: float | None = None
    submits_per_second: float | None = None
    max_in_flight: int | None = None
    budget_usd: float | None = None
    options: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class NewJob:
    """One pending job to write: its key, request body, output name, fingerprint and place in a pilot."""

    key: str
    inputs: dict[str, Any]
    output_name: str
    fingerprint: str
    sources: list[str | None] | None = None
    pilot: bool = False
    style: str | None = None
    variant: str | None = None


def insert_batch(sessions: sessionmaker[Session], new: NewBatch, jobs: Iterable[NewJob], *, now: float,
                 failures: Mapping[str, str] | None = None, pilot: dict[str, Any] | None = None) -> int:
    """Write the batch row and one pending row per job in one transaction; return the batch id.

    The jobs of ``failures`` (key -> error) end failed unsubmitted; with a ``pilot`` the jobs not in
    its sample are parked (``store/pilot.start``).
    """
    with transaction(sessions) as session:
        batch = Batch(
            name=new.name,
            manifest_path=new.manifest_path,
            output_dir=new.output_dir,
            created_at=now,
            requests_per_second=new.requests_per_second,
            submits_per_second=new.submits_per_second,
            max_in_flight=new.max_in_flight,
            budget_usd=_budget(new.budget_usd),
            options=new.options,
        )
        session.add(batch)
        session.flush()
        rows = [
            {
                "batch_id": batch.id, "key": job.key, "state": JobState.PENDING.value, "inputs": job.inputs,
                "input_sources": job.sources,
                "output_name": job.output_name, "fingerprint": job.fingerprint,
                "next_action_at": now, "created_at": now, "attempts": 0, "submits": 0, "polls": 0,
                "uncertain_submits": 0, "pilot": job.pilot, "style": job.style,
                "variant": job.variant,
            }
            for job in jobs
        ]
        for start in range(0, len(rows), INSERT_CHUNK):
            session.execute(insert(Job), rows[start:start + INSERT_CHUNK])
        if failures:
            fail_unsubmitted(session, batch.id, failures, now=now)
        if pilot:
            start_pilot(session, batch.id, pilot, now=now)
        return batch.id


def get_batch(sessions: sessionmaker[Session], batch_id: int) -> Batch | None:
    """The batch row (detached: read after the session closes), or None."""
    with sessions() as session:
        return session.get(Batch, batch_id)


def set_budget(session: Session, batch_id: int, budget_usd: float) -> None:
    """Give the batch a new budget (``resume --budget``)."""
    batch = session.get(Batch, batch_id)
    assert batch is not None
    batch.budget_usd = _budget(budget_usd)


def _budget(dollars: float | None) -> Decimal | None:
    """A budget as given (a float from YAML or the command line), held exactly as it prints."""
    return None if dollars is None else usd(dollars)


def mark_cancelled(session: Session, batch_id: int, now: float) -> None:
    """Mark the batch cancelled (no more submits), keeping the first time it was."""
    batch = session.get(Batch, batch_id)
    assert batch is not None
    batch.cancelled_at = batch.cancelled_at or now


def clear_cancelled(session: Session, batch_id: int) -> None:
    """Lift the batch's cancel mark (``retry --cancelled`` runs it again)."""
    batch = session.get(Batch, batch_id)
    assert batch is not None
    batch.cancelled_at = None
