"""One payer per unique job across batches: the ``fingerprint_owners`` rows.

Just before a job's submit, ``take`` makes it the payer of its fingerprint, unless another job that
is still under way (``core.states.UNDER_WAY``: pending to downloading, or held) is. The decision is
one statement the database serializes, never a read then a write: the INSERT of the fingerprint's
row (its primary key: of two jobs inserting at once, one wins, the other meets the row), else an
UPDATE that passes the row on only while its owner is no longer under way. A job that loses waits
for the owner's files (``engine.steps``) instead of paying again.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import Table, and_, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, aliased

from batch.core.states import UNDER_WAY, JobState
from batch.store.models import FingerprintOwner, Job

_UNDER_WAY = [s.value for s in UNDER_WAY]
_OWNERS: Table = FingerprintOwner.__table__  # type: ignore[assignment]


@dataclass(frozen=True)
class Taken:
    """What ``take`` found: the job under way that pays instead (``holder``), or None when this job pays.

    ``fresh``: no job ever held the fingerprint before (so no finished twin can be behind it).
    """

    holder: int | None
    fresh: bool = False


def take(session: Session, fingerprint: str, job_id: int, now: float) -> Taken:
    """Make ``job_id`` the payer of ``fingerprint``, unless another job under way already is."""
    try:
        with session.begin_nested():
            session.execute(insert(_OWNERS).values(fingerprint=fingerprint, job_id=job_id, taken_at=now))
        return Taken(None, fresh=True)
    except IntegrityError:  # the row is there: pass it on only if its owner is done (or it is ours)
        pass
    under_way = select(Job.id).where(Job.id == _OWNERS.c.job_id, Job.state.in_(_UNDER_WAY)).exists()
    passed = session.execute(
        update(_OWNERS).where(_OWNERS.c.fingerprint == fingerprint,
                              or_(_OWNERS.c.job_id == job_id, ~under_way))
        .values(job_id=job_id, taken_at=now))
    if passed.rowcount:  # type: ignore[attr-defined]
        return Taken(None)
    holder = session.scalar(select(_OWNERS.c.job_id).where(_OWNERS.c.fingerprint == fingerprint))
    return Taken(holder)


def next_action_of(session: Session, job_id: int) -> float | None:
    """When the job is next due (its owner's next poll: a waiting twin need not look before)."""
    return session.scalar(select(Job.next_action_at).where(Job.id == job_id))


def under_way(session: Session, prints: Sequence[str], *, besides_batch: int | None = None) -> set[str]:
    """Those of ``prints`` that a job under way has (in a batch other than ``besides_batch``, if given)."""
    found: set[str] = set()
    for start in range(0, len(prints), 500):
        query = select(Job.fingerprint).where(Job.fingerprint.in_(prints[start:start + 500]),
                                              Job.state.in_(_UNDER_WAY))
        if besides_batch is not None:
            query = query.where(Job.batch_id != besides_batch)
        found.update(session.scalars(query.distinct()))
    return found


def waiting(session: Session, batch_id: int) -> int:
    """How many of the batch's pending jobs wait for an identical job under way."""
    owner = aliased(Job)
    return session.scalar(
        select(func.count()).select_from(Job).join(owner, owner.id == Job.waiting_on)
        .where(and_(Job.batch_id == batch_id, Job.state == JobState.PENDING.value, owner.state.in_(_UNDER_WAY)))
    ) or 0
