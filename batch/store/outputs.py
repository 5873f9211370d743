"""Reads of recorded output files, for reusing an earlier identical job's (``batch.files.cache``).

The writes are ``batch.store.jobs.replace_outputs``.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from batch.core.states import JobState
from batch.store.models import Job, Output

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


def finished_among(session: Session, prints: Sequence[str]) -> Sequence[str]:
    """Those of ``prints`` (each once) that a succeeded or cached job has."""
    return session.scalars(
        select(Job.fingerprint).where(Job.fingerprint.in_(prints), Job.state.in_(_DONE)).distinct()
    ).all()
