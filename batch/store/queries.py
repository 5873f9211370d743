"""The reads that status, listing, operations, reports, notify and the steps need.

Each returns plain values or rows read in one short session; none writes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import and_, bindparam, func, or_, select, true
from sqlalchemy.orm import Session, sessionmaker

from batch.core.cost import usd_float, usd_number
from batch.core.progress import iso_utc
from batch.core.sources import name_inputs
from batch.core.states import TERMINAL, WAITING, JobState, StateCounts
from batch.store import jobs as store
from batch.store import owners, pilot
from batch.store.models import Batch, Job, Output
from batch.store.reviews import counts as review_counts

S = JobState
DEFAULT_LIMIT = 20
# Built once: every step reads its jobs with these (see ``batch.engine.steps._read_all``).
_JOBS_AND_BATCHES = (select(Job, Batch).join(Batch, Job.batch_id == Batch.id)
                     .where(Job.id.in_(bindparam("job_ids", expanding=True))))
_FINISHED_PRINTS = select(Job.fingerprint).where(Job.fingerprint.in_(bindparam("prints", expanding=True)),
                                                 Job.state.in_([S.SUCCEEDED.value, S.CACHED.value]))


# -- status and listing -----------------------------------------------------------------------------

@dataclass(frozen=True)
class BatchStatus(StateCounts):
    """A batch's progress as ``nanobatch status`` shows it."""

    batch_id: int
    name: str
    counts: dict[str, int]
    output_dir: str
    uncertain_submits: int
    cost: float  # exact dollars as a float that prints them (``core.cost.usd_float``)
    parked: str | None = None  # why the parked jobs wait for a person (e.g. the budget was reached)
    budget_usd: float | None = None
    reviews: dict[str, int] | None = None  # jobs currently approved / rejected
    paused: str | None = None  # why the circuit breaker paused the batch (a setup error), until resume
    odd_costs: int = 0  # jobs answered a cost that is no amount (kept raw on the job, not in ``cost``)
    waiting: int = 0  # pending jobs waiting for an identical job under way (not paid twice)
    pilot: str | None = None  # where the pilot is ("pilot 24/24 done, waiting for approval"), if there is one
    pilot_waiting: bool = False  # the pilot has ended and the rest of the batch waits for a person
    gate_due: bool = False  # the pilot has ended and its automatic gate is about to decide
    set_aside: int = 0  # jobs of prompt variants the pilot did not choose: cancelled unpaid, not missed

    @property
    def settled(self) -> bool:
        """True when nothing will move without a person: every job terminal, held or parked (and no
        pilot gate about to release the rest)."""
        moving = sum(n for s, n in self.counts.items() if JobState(s) not in TERMINAL | WAITING)
        return moving == 0 and not self.gate_due

    @property
    def done(self) -> bool:
        """True when every job is terminal."""
        return self.finished == self.total

    @property
    def all_succeeded(self) -> bool:
        """True when every job ended succeeded (or cached), but those of the variants not chosen."""
        return self.succeeded + self.set_aside == self.total

    def as_json(self) -> dict[str, Any]:
        """The ``status --json`` document."""
        return {"batch_id": self.batch_id, "name": self.name, "total": self.total, "counts": self.counts,
                "done": self.done, "uncertain_submits": self.uncertain_submits, "cost_usd": self.cost,
                "parked": self.parked, "budget_usd": self.budget_usd, "reviews": self.reviews or {},
                "paused": self.paused, "odd_costs": self.odd_costs, "waiting_on_identical": self.waiting,
                "pilot": self.pilot, "pilot_waiting": self.pilot_waiting}


def batch_status(sessions: sessionmaker[Session], batch_id: int) -> BatchStatus | None:
    """The batch's counts by state, or None when there is no such batch."""
    with sessions() as session:
        batch = session.get(Batch, batch_id)
        if batch is None:
            return None
        counts, uncertain = store.state_totals(session, batch_id)
        reviewed = review_counts(session, batch_id)
        odd = store.odd_costs(session, batch_id)
        waiting = owners.waiting(session, batch_id) if counts.get(JobState.PENDING.value) else 0
        trial = pilot.progress(session, batch)
    parked = (batch.options.get("parked") or "parked") if counts.get(JobState.PARKED.value) else None
    return BatchStatus(batch_id, batch.name, counts, batch.output_dir, uncertain, usd_float(batch.charged_usd),
                       parked, usd_number(batch.budget_usd), reviewed, batch.options.get("paused"), odd, waiting,
                       None if trial is None else trial.text(), trial is not None and trial.waiting,
                       trial is not None and trial.gate_due, 0 if trial is None else trial.set_aside)


def latest_batch_id(sessions: sessionmaker[Session]) -> int | None:
    """The most recently created batch, if any."""
    with sessions() as session:
        return session.scalars(select(Batch.id).order_by(Batch.id.desc()).limit(1)).first()


@dataclass(frozen=True)
class BatchSummary(StateCounts):
    """One line of the batch list: counts by state and what it cost so far."""

    batch_id: int
    name: str
    created_at: float
    counts: dict[str, int]
    cost: float  # exact dollars as a float that prints them

    @property
    def done(self) -> int:
        """Jobs in a terminal state (the list's "done" column)."""
        return self.finished

    def as_json(self) -> dict[str, Any]:
        """One element of the ``status --json`` list."""
        return {"batch_id": self.batch_id, "name": self.name, "created_at": iso_utc(self.created_at),
                "total": self.total, "done": self.done, "succeeded": self.succeeded, "failed": self.failed,
                "counts": self.counts, "cost_usd": self.cost}


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
    return [BatchSummary(b.id, b.name, b.created_at, counts[b.id], usd_float(b.charged_usd)) for b in batches]


# -- operations and steps ---------------------------------------------------------------------------

def job_ids(sessions: sessionmaker[Session], batch_id: int, job_states: Sequence[JobState]) -> list[int]:
    """Ids of the batch's jobs in ``job_states``."""
    with sessions() as session:
        return list(session.scalars(
            select(Job.id).where(Job.batch_id == batch_id, Job.state.in_([s.value for s in job_states]))
        ))


def error_contains(text: str) -> Any:
    """A condition for ``jobs.transition_all``'s ``only``: the job's error holds ``text`` (taken literally)."""
    return Job.error.contains(text, autoescape=True)


def retry_filter(error_text: str | None, *, among: Sequence[int] | None = None,
                 besides: Sequence[int] = ()) -> Any:
    """``transition_all``'s ``only`` for a retry: the error holds ``error_text`` (if given), the job is
    one of ``among`` (if given) and none of ``besides``."""
    conditions = [] if error_text is None else [error_contains(error_text)]
    if among is not None:
        conditions.append(Job.id.in_(among))
    if besides:
        conditions.append(Job.id.not_in(besides))
    return and_(true(), *conditions)


def paid_results(session: Session, batch_id: int) -> list[int]:
    """The batch's failed jobs whose result upstream succeeded, was paid and lists output URLs: the
    ones ``retry`` downloads again instead of submitting."""
    rows = session.execute(select(Job.id, Job.result_urls).where(
        Job.batch_id == batch_id, Job.state == S.FAILED.value, Job.upstream_status == "succeeded",
        Job.request_id.is_not(None)))
    return [job_id for job_id, urls in rows if urls]  # JSON: no portable "non-empty list" in SQL


def unread_paid_results(session: Session, batch_id: int) -> list[tuple[int, dict[str, Any]]]:
    """(job id, kept answer) of the batch's failed jobs whose result upstream succeeded and was paid
    but listed no output URL that nanobatch could read: ``retry`` reads those answers again."""
    rows = session.execute(select(Job.id, Job.result_urls, Job.result_raw).where(
        Job.batch_id == batch_id, Job.state == S.FAILED.value, Job.upstream_status == "succeeded",
        Job.request_id.is_not(None)))
    return [(job_id, raw) for job_id, urls, raw in rows if not urls and isinstance(raw, dict)]


def job_and_batch(session: Session, job_id: int) -> tuple[Job, Batch] | None:
    """The job and its batch, or None if either is gone."""
    job = session.get(Job, job_id)
    batch = session.get(Batch, job.batch_id) if job else None
    return (job, batch) if job is not None and batch is not None else None


def jobs_with_batches(session: Session, job_ids: list[int]) -> list[tuple[Job, Batch]]:
    """The jobs with their batches, in one query (a task often carries several jobs)."""
    return [(job, batch) for job, batch in session.execute(_JOBS_AND_BATCHES, {"job_ids": job_ids}).all()]


def finished_prints(session: Session, prints: list[str]) -> set[str]:
    """Those of ``prints`` that a succeeded or cached job has."""
    return set(session.scalars(_FINISHED_PRINTS, {"prints": prints})) if prints else set()


# -- reports and notifications ----------------------------------------------------------------------

def report_rows(session: Session, batch_id: int) -> tuple[Batch, list[Job], dict[int, list[Output]]] | None:
    """The batch, its jobs in id order and their outputs by job id; None for an unknown batch."""
    batch = session.get(Batch, batch_id)
    if batch is None:
        return None
    outputs: dict[int, list[Output]] = {}
    out_query = select(Output).join(Job, Job.id == Output.job_id).where(Job.batch_id == batch_id)
    for out in session.scalars(out_query):
        outputs.setdefault(out.job_id, []).append(out)
    jobs = list(session.scalars(select(Job).where(Job.batch_id == batch_id).order_by(Job.id)).all())
    return batch, jobs, outputs


def cost_and_end(session: Session, batch_id: int) -> tuple[Decimal, float | None]:
    """What the batch's jobs cost (their last runs) and when the last of them finished."""
    cost, finished = session.execute(
        select(func.coalesce(func.sum(Job.cost), 0), func.max(Job.finished_at)).where(Job.batch_id == batch_id)
    ).one()
    return cost or Decimal(0), finished


def failures(session: Session, batch_id: int, limit: int) -> list[tuple[str, str | None]]:
    """(manifest job id, error) of the batch's first ``limit`` failed jobs; the errors name local
    inputs by the path the manifest wrote."""
    rows = session.execute(
        select(Job.key, Job.error, Job.inputs, Job.input_sources)
        .where(Job.batch_id == batch_id, Job.state == S.FAILED.value).order_by(Job.id).limit(limit)
    ).all()
    return [(key, error and name_inputs(error, inputs.get("image_urls", []), sources))
            for key, error, inputs, sources in rows]


def pending_unleased(session: Session, batch_id: int, now: float) -> list[tuple[int, str, str]]:
    """(id, fingerprint, output name) of the batch's pending jobs that nobody holds, in id order."""
    rows = session.execute(
        select(Job.id, Job.fingerprint, Job.output_name)
        .where(Job.batch_id == batch_id, Job.state == S.PENDING.value,
               or_(Job.lease_until.is_(None), Job.lease_until < now))
        .order_by(Job.id)
    ).all()
    return [(job_id, fp, name) for job_id, fp, name in rows]


def output_folders(session: Session) -> list[tuple[int, str]]:
    """(batch id, output folder) of every batch, oldest first."""
    return [(batch_id, folder) for batch_id, folder in session.execute(
        select(Batch.id, Batch.output_dir).order_by(Batch.id))]
