"""Jobs failed before any submit, by a check that costs nothing (``--check-inputs``)."""

from __future__ import annotations

from collections.abc import Mapping

from sqlalchemy import select
from sqlalchemy.orm import Session

from batch.core.states import JobState
from batch.store.jobs import transition
from batch.store.models import Job

CHUNK = 500


def fail_unsubmitted(session: Session, batch_id: int, errors: Mapping[str, str], *, now: float) -> int:
    """Fail the batch's pending jobs whose key is in ``errors``, each with its error; how many moved."""
    keys = sorted(errors)
    moved = 0
    for start in range(0, len(keys), CHUNK):
        rows = session.execute(select(Job.id, Job.key).where(Job.batch_id == batch_id,
                                                             Job.key.in_(keys[start:start + CHUNK]))).all()
        for job_id, key in rows:
            moved += transition(session, job_id, JobState.PENDING, JobState.FAILED, now=now,
                                detail="input check failed: not submitted", error=errors[key])
    return moved
