"""Every SQL statement about reviews and reruns: decisions on outputs, and new jobs redoing rejected ones.

A decision is a new ``reviews`` row, never an update: the newest row of a job (highest id) is its
decision, the older ones its history. A rerun is a new pending job in the same batch, linked to
the job it redoes by a ``reruns`` row; the rejected job keeps its row, its files and its reviews.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session

from batch.core.states import JobState
from batch.store.models import Job, Output, Rerun, Review

APPROVED = "approved"
REJECTED = "rejected"
CLEARED = "cleared"  # back to unreviewed: a row like any decision, so the history keeps it
DECISIONS: tuple[str, ...] = (APPROVED, REJECTED)
WEB_DECISIONS: tuple[str, ...] = (APPROVED, REJECTED, CLEARED)
# a job has something to review once its files are there
REVIEWABLE: tuple[str, ...] = (JobState.SUCCEEDED.value, JobState.CACHED.value)


@dataclass(frozen=True)
class Decision:
    """One review row: which job (and output, or None for the whole job), what, who, when, why."""

    job_id: int
    idx: int | None
    decision: str
    note: str | None
    who: str
    at: float
    id: int = 0

    def as_json(self) -> dict[str, Any]:
        """The decision as plain values."""
        return {"idx": self.idx, "decision": self.decision, "note": self.note, "who": self.who, "at": self.at}


def _decision(row: Review) -> Decision:
    return Decision(row.job_id, row.idx, row.decision, row.note, row.who, row.at, row.id)


def record(session: Session, job_ids: Iterable[int], decision: str, *, who: str, now: float,
           note: str | None = None, idx: int | None = None) -> int:
    """Add one decision row per job; returns how many were written."""
    return record_outputs(session, [(j, idx) for j in job_ids], decision, who=who, now=now, note=note)


def record_outputs(session: Session, targets: Iterable[tuple[int, int | None]], decision: str, *, who: str,
                   now: float, note: str | None = None) -> int:
    """Add one decision row per ``(job id, output idx)`` (idx None: the whole job); returns how many."""
    if decision not in WEB_DECISIONS:
        raise ValueError(f"decision must be one of {WEB_DECISIONS}, not {decision!r}")
    rows = [{"job_id": j, "idx": idx, "decision": decision, "note": note or None, "who": who, "at": now}
            for j, idx in dict.fromkeys(targets)]
    if rows:
        session.execute(insert(Review), rows)
    return len(rows)


def _newest_ids(batch_id: int) -> Any:
    """The id of each job's newest review, for the jobs of one batch."""
    return (select(func.max(Review.id)).join(Job, Job.id == Review.job_id)
            .where(Job.batch_id == batch_id).group_by(Review.job_id))


def latest(session: Session, batch_id: int) -> dict[int, Decision]:
    """Each reviewed job's current decision (its newest row), by job id."""
    rows = session.scalars(select(Review).where(Review.id.in_(_newest_ids(batch_id))))
    return {row.job_id: _decision(row) for row in rows if row.decision != CLEARED}


def current_of_output() -> Any:
    """A correlated scalar subquery: the decision that holds for the ``Output`` row of the outer query.

    That is the newest review of its job naming its idx or the whole job (idx None); None, or
    ``cleared``, when it has none.
    """
    return (select(Review.decision).where(Review.job_id == Output.job_id,
                                          (Review.idx == Output.idx) | Review.idx.is_(None))
            .order_by(Review.id.desc()).limit(1).correlate(Output).scalar_subquery())


def of_outputs(session: Session, job_ids: Sequence[int]) -> dict[tuple[int, int], Decision]:
    """The decision that holds for each output of these jobs, by ``(job id, idx)`` (unreviewed ones left out).

    The newest review naming the output's idx, or the whole job, wins.
    """
    if not job_ids:
        return {}
    newest: dict[tuple[int, int | None], Decision] = {}
    for row in session.scalars(select(Review).where(Review.job_id.in_(list(job_ids))).order_by(Review.id)):
        newest[(row.job_id, row.idx)] = _decision(row)
    found: dict[tuple[int, int], Decision] = {}
    for job_id, idx in session.execute(select(Output.job_id, Output.idx).where(Output.job_id.in_(list(job_ids)))):
        mine, whole = newest.get((job_id, idx)), newest.get((job_id, None))
        best = max((d for d in (mine, whole) if d is not None), key=lambda d: d.id, default=None)
        if best is not None and best.decision != CLEARED:
            found[(job_id, idx)] = best
    return found


def output_counts(session: Session, batch_id: int) -> dict[str, int]:
    """The batch's outputs: how many there are, and how many are approved and rejected now.

    Reads every output row only of jobs that have a review, so an unreviewed batch costs two counts.
    """
    total = session.scalar(select(func.count()).select_from(Output).join(Job, Job.id == Output.job_id)
                           .where(Job.batch_id == batch_id)) or 0
    found = {decision: 0 for decision in DECISIONS}
    for decision in of_batch_outputs(session, batch_id).values():
        found[decision.decision] = found.get(decision.decision, 0) + 1
    return {"outputs": int(total), **found}


def of_batch_outputs(session: Session, batch_id: int) -> dict[tuple[int, int], Decision]:
    """``of_outputs`` for every reviewed job of the batch."""
    reviewed = sorted(set(session.scalars(select(Review.job_id).join(Job, Job.id == Review.job_id)
                                          .where(Job.batch_id == batch_id))))
    found: dict[tuple[int, int], Decision] = {}
    for chunk in range(0, len(reviewed), 500):
        found.update(of_outputs(session, reviewed[chunk:chunk + 500]))
    return found


def history(session: Session, job_ids: Sequence[int]) -> list[Decision]:
    """Every decision on these jobs, oldest first."""
    if not job_ids:
        return []
    rows = session.scalars(select(Review).where(Review.job_id.in_(job_ids)).order_by(Review.id))
    return [_decision(row) for row in rows]


def counts(session: Session, batch_id: int) -> dict[str, int]:
    """How many jobs of the batch are currently approved and rejected (every decision named)."""
    rows = session.execute(
        select(Review.decision, func.count()).where(Review.id.in_(_newest_ids(batch_id))).group_by(Review.decision)
    ).all()
    found = {decision: int(count) for decision, count in rows}
    return {decision: found.get(decision, 0) for decision in DECISIONS}


def ids_by_key(session: Session, batch_id: int, keys: Sequence[str]) -> dict[str, int]:
    """The ids of the batch's jobs with these keys (unknown keys are left out)."""
    if not keys:
        return {}
    rows = session.execute(select(Job.key, Job.id).where(Job.batch_id == batch_id, Job.key.in_(keys)))
    return {key: job_id for key, job_id in rows.all()}


def reviewable(session: Session, batch_id: int, job_ids: Sequence[int] | None = None) -> list[int]:
    """The ids of the batch's jobs that have files to review (all of them, or those among ``job_ids``)."""
    stmt = select(Job.id).where(Job.batch_id == batch_id, Job.state.in_(REVIEWABLE)).order_by(Job.id)
    if job_ids is not None:
        stmt = stmt.where(Job.id.in_(job_ids))
    return list(session.scalars(stmt))


def rerun_links(session: Session, batch_id: int) -> dict[int, int]:
    """For each rerun job of the batch, the job it redoes: ``{new job id: old job id}``."""
    rows = session.execute(select(Rerun.job_id, Rerun.rerun_of).join(Job, Job.id == Rerun.job_id)
                           .where(Job.batch_id == batch_id))
    return {new: old for new, old in rows.all()}


def rejected_not_rerun(session: Session, batch_id: int) -> list[Job]:
    """The batch's jobs whose current decision is rejected and that no rerun redoes yet, in id order."""
    rejected = select(Review.job_id).where(Review.id.in_(_newest_ids(batch_id)), Review.decision == REJECTED)
    redone = select(Rerun.rerun_of)
    stmt = select(Job).where(Job.id.in_(rejected), Job.id.not_in(redone)).order_by(Job.id)
    return list(session.scalars(stmt))


def taken_keys(session: Session, batch_id: int, keys: Sequence[str]) -> set[str]:
    """Which of these job keys the batch already uses."""
    return set(ids_by_key(session, batch_id, keys))


def add_reruns(session: Session, batch_id: int, jobs: Sequence[tuple[int, dict[str, Any]]], *, now: float) -> list[int]:
    """Insert one pending job per ``(old job id, new job's column values)`` and link it; returns the new ids.

    The values name ``key``, ``inputs``, ``input_sources``, ``output_name`` and ``fingerprint``; the rest
    is a new job's.
    """
    new_ids: list[int] = []
    for old_id, values in jobs:
        row = {"batch_id": batch_id, "state": JobState.PENDING.value, "next_action_at": now, "created_at": now,
               "attempts": 0, "submits": 0, "polls": 0, "uncertain_submits": 0, **values}
        new_id = session.scalar(insert(Job).values(**row).returning(Job.id))
        assert new_id is not None
        session.execute(insert(Rerun).values(job_id=new_id, rerun_of=old_id, at=now))
        new_ids.append(new_id)
    return new_ids


def outputs_of_jobs(session: Session, job_ids: Iterable[int]) -> list[tuple[int, str, Output]]:
    """(job id, job key, output) of these jobs, in job then output order."""
    return [(job_id, key, out) for job_id, key, out in session.execute(
        select(Job.id, Job.key, Output).join(Output, Output.job_id == Job.id)
        .where(Job.id.in_(list(job_ids))).order_by(Job.id, Output.idx))]


def reviewable_jobs(session: Session, batch_id: int, decided: Iterable[int]) -> list[tuple[int, str, str]]:
    """(job id, key, state) of the batch's jobs with files to review or a decision already."""
    return [(job_id, key, state) for job_id, key, state in session.execute(
        select(Job.id, Job.key, Job.state).where(Job.batch_id == batch_id)
        .where(Job.state.in_(REVIEWABLE) | Job.id.in_(list(decided))).order_by(Job.id))]
