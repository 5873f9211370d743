"""Of identical jobs about to submit at the same moment, exactly one pays (``store.owners.take``).

Threads with a barrier, one job each (eight batches of the same edit), on SQLite and on PostgreSQL
when given: the decision is the database's (a primary key, a conditional UPDATE), not a read then a write.
"""

from __future__ import annotations

import threading
from pathlib import Path

from sqlalchemy import select

from batch.core.states import JobState
from batch.store import db, owners
from batch.store import jobs as store
from batch.store.models import Job
from batch.store.owners import Taken
from tests.conftest import Backend
from tests.integration.test_store import make_batch

RACERS = 8


def _race(sessions: object, fingerprint: str, job_ids: list[int]) -> dict[int, Taken]:
    barrier = threading.Barrier(len(job_ids))
    found: dict[int, Taken] = {}

    def one(job_id: int) -> None:
        barrier.wait()
        with db.transaction(sessions) as session:  # type: ignore[arg-type]
            found[job_id] = owners.take(session, fingerprint, job_id, 100.0)

    threads = [threading.Thread(target=one, args=(job_id,)) for job_id in job_ids]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return found


def test_racing_identical_jobs_agree_on_one_payer_then_pass_it_on(tmp_path: Path, backend: Backend) -> None:
    made = [make_batch(backend.db_url, tmp_path, 1) for _ in range(RACERS)]
    sessions = made[0][0]
    with sessions() as session:  # type: ignore[operator]
        rows = session.execute(select(Job.id, Job.fingerprint).order_by(Job.id)).all()
    ids, prints = [r[0] for r in rows], {r[1] for r in rows}
    assert len(ids) == RACERS and len(prints) == 1
    fingerprint = prints.pop()
    for fresh in (True, False):  # the first time the row is inserted; the second time it is passed on
        found = _race(sessions, fingerprint, ids)
        payers = [job_id for job_id, taken in found.items() if taken.holder is None]
        assert len(found) == len(ids) and len(payers) == 1, found
        assert found[payers[0]].fresh is fresh
        assert {taken.holder for job_id, taken in found.items() if job_id != payers[0]} == {payers[0]}
        with db.transaction(sessions) as session:  # type: ignore[arg-type]
            assert store.transition(session, payers[0], JobState.PENDING, JobState.FAILED, now=101.0)
        ids.remove(payers[0])  # failed: no longer under way, its row passes to one of the others
