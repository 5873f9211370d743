"""Steps that leave a worker's threads free: downloads take a slot or come back later, and a stopping
worker gives its jobs back instead of starting them."""

from __future__ import annotations

from pathlib import Path

from batch.core.states import JobState
from batch.engine import steps
from tests.unit.test_steps import FILES, OWNER, make_world


def test_a_download_without_a_free_slot_comes_back_later_without_spending_an_attempt(tmp_path: Path) -> None:
    world = make_world(tmp_path, download_slots=1)
    world.add_job(JobState.DOWNLOADING, request_id="req-1", result_urls=[f"{FILES}/a.png"])
    with world.rt.download_slot() as mine:  # another job's download holds the only slot
        assert mine
        world.step()
    job = world.job()
    assert (job.state, job.attempts, job.lease_owner) == ("downloading", 0, None)
    assert job.next_action_at > world.clock() and not job.error
    world.clock.advance(job.next_action_at - world.clock())
    world.take_lease(OWNER)
    world.step()  # the slot is free again
    assert world.job().state == "succeeded"


def test_a_stopping_worker_gives_its_jobs_back_due_at_once(tmp_path: Path) -> None:
    world = make_world(tmp_path)
    world.add_job(JobState.PENDING)
    world.rt.stopping.set()
    steps.advance_all(world.rt, [world.job_id], OWNER)
    job = world.job()
    assert (job.state, job.lease_owner, job.attempts) == ("pending", None, 0)
    assert job.next_action_at <= world.clock() and world.api.calls == []
