"""Reads of recorded output files, for reusing an earlier identical job's (``batch.files.cache``).

The writes are ``batch.store.jobs.replace_outputs``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import bindparam, func, select
from sqlalchemy.orm import Session

from batch.core.states import JobState
from batch.store.models import Batch, Job, Output

CANDIDATES = 10
_DONE = [JobState.SUCCEEDED.value, JobState.CACHED.value]
# built once: every submit asks
_CANDIDATES = (select(Job.id)
               .where(Job.fingerprint == bindparam("fingerprint"), Job.id != bindparam("exclude"),
                      Job.state.in_(_DONE))
               .order_by(Job.finished_at.desc())
               .limit(CANDIDATES))
_OUTPUTS = select(Output).where(Output.job_id == bindparam("job_id")).order_by(Output.idx)


def finished_with(session: Session, fingerprint: str, exclude_job: int) -> Sequence[int]:
    """The newest (at most ``CANDIDATES``) succeeded or cached jobs with this fingerprint, but ``exclude_job``."""
    return session.scalars(_CANDIDATES, {"fingerprint": fingerprint, "exclude": exclude_job}).all()


def outputs_of(session: Session, job_id: int) -> Sequence[Output]:
    """The job's recorded files, in output order."""
    return session.scalars(_OUTPUTS, {"job_id": job_id}).all()


def storage_of(session: Session, job_id: int) -> dict[str, Any] | None:
    """The storage settings (endpoint, region) of the job's batch, as its manifest gave them, or None."""
    options = session.scalar(select(Batch.options).join(Job, Job.batch_id == Batch.id).where(Job.id == job_id))
    storage = (options or {}).get("storage")
    return dict(storage) if storage else None


def finished_among(session: Session, prints: Sequence[str]) -> Sequence[str]:
    """Those of ``prints`` (each once) that a succeeded or cached job has."""
    return session.scalars(
        select(Job.fingerprint).where(Job.fingerprint.in_(prints), Job.state.in_(_DONE)).distinct()
    ).all()


def newest_finished(session: Session, prints: Sequence[str], limit: int = CANDIDATES) -> dict[str, list[int]]:
    """For each of ``prints``: the newest (at most ``limit``) succeeded or cached jobs with it, newest first.

    One query for the lot (a window per fingerprint), so a rerun's lookup does not grow with history.
    """
    if not prints:
        return {}
    rank = func.row_number().over(partition_by=Job.fingerprint,
                                  order_by=(Job.finished_at.desc(), Job.id.desc())).label("rank")
    ranked = (select(Job.fingerprint, Job.id, rank)
              .where(Job.fingerprint.in_(prints), Job.state.in_(_DONE)).subquery())
    rows = session.execute(select(ranked.c.fingerprint, ranked.c.id).where(ranked.c.rank <= limit)
                           .order_by(ranked.c.fingerprint, ranked.c.rank)).all()
    found: dict[str, list[int]] = {}
    for fingerprint, job_id in rows:
        found.setdefault(fingerprint, []).append(job_id)
    return found


def outputs_of_jobs(session: Session, job_ids: Sequence[int]) -> dict[int, list[Output]]:
    """The recorded files of each of ``job_ids`` (in output order); jobs with none are absent."""
    found: dict[int, list[Output]] = {}
    if not job_ids:
        return found
    for out in session.scalars(select(Output).where(Output.job_id.in_(job_ids)).order_by(Output.job_id, Output.idx)):
        found.setdefault(out.job_id, []).append(out)
    return found
