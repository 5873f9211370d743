"""Jobs failed before any submit, by a check that costs nothing (``--check-inputs``, an input known undecodable)."""

from __future__ import annotations

from collections.abc import Mapping

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from batch.core.states import JobState
from batch.core.undecodable import LIKE_PATTERNS, input_key, undecodable_inputs
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


def undecodable(session: Session) -> dict[str, tuple[int, str]]:
    """Input key (``core.undecodable.input_key``) -> (job id, its error), for each input that a job
    failed upstream as not a decodable image."""
    rows = session.execute(select(Job.id, Job.inputs, Job.error).where(
        Job.state == JobState.FAILED.value, or_(*(Job.error.like(p) for p in LIKE_PATTERNS))).order_by(Job.id))
    found: dict[str, tuple[int, str]] = {}
    for job_id, inputs, error in rows:
        for url in undecodable_inputs(list((inputs or {}).get("image_urls", [])), error):
            found.setdefault(input_key(url), (job_id, error))
    return found
