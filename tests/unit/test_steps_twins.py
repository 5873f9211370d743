"""A job identical to one under way waits for it instead of paying again (issue 20, "Money").

The submit step alone, with the fake API and a hand-moved clock: the waiting job keeps no worker
(its lease dropped, ``next_action_at`` set), says once what it waits for, and is not lost when the
job it waits for ends without files: it then submits itself.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from batch.core.states import JobState
from batch.store import jobs as store
from batch.store.db import transaction
from batch.store.models import Batch, Job, JobEvent
from batch.store.queries import batch_status
from tests.unit.test_steps import OWNER, World, make_world

S = JobState


def test_a_twin_waits_without_a_worker_and_submits_itself_when_the_payer_fails(tmp_path: Path) -> None:
    world = make_world(tmp_path)
    payer = world.add_job()
    world.step()
    assert world.job().state == S.QUEUED.value and world.api.names() == ["submit"]
    twin = world.add_job()  # another batch, the same edit
    world.step()
    job = world.job()
    assert (job.state, job.waiting_on, job.lease_owner) == (S.PENDING.value, payer, None)
    assert job.next_action_at > world.clock() and world.api.names() == ["submit"]  # nothing paid twice
    status = batch_status(world.rt.sessions, job.batch_id)
    assert status is not None and status.waiting == 1 and status.as_json()["waiting_on_identical"] == 1
    world.take_lease(OWNER)
    world.clock.advance(30)
    world.step()  # still under way: waits again, without a second event
    assert world.api.names() == ["submit"] and world.job().waiting_on == payer
    with world.rt.sessions() as session:
        said = session.scalars(select(JobEvent.detail).where(JobEvent.job_id == twin, JobEvent.to_state == "pending"))
        assert [d for d in said if d] == [f"waiting for job {payer}, identical and under way: its files are copied, "
                                          "not paid again"]
    with transaction(world.rt.sessions) as session:
        assert store.transition(session, payer, S.QUEUED, S.FAILED, now=world.clock(), error="failed upstream")
    world.take_lease(OWNER)
    world.clock.advance(60)
    world.step()  # the payer failed: the twin is not lost, it pays for itself
    job = world.job()
    assert job.state == S.QUEUED.value and job.waiting_on is None and world.api.names() == ["submit", "submit"]


def test_force_submits_a_twin_all_the_same(tmp_path: Path) -> None:
    world: World = make_world(tmp_path)
    world.add_job()
    world.step()
    world.add_job()
    with transaction(world.rt.sessions) as session:
        job = session.get_one(Job, world.job_id)
        session.get_one(Batch, job.batch_id).options = {"force": True}
    world.step()
    assert world.job().state == S.QUEUED.value and world.api.names() == ["submit", "submit"]
