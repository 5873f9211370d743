"""Steps that leave a worker's threads free: downloads take a slot or come back later, and a stopping
worker gives its jobs back instead of starting them: no POST once told to stop, and the submits
already being sent are waited for, so that none is cut off unanswered (a charge nobody knows of)."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from batch.core.states import JobState
from batch.engine import steps
from batch.store import jobs as store
from batch.store.db import transaction
from batch.store.models import JobEvent
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


def test_a_worker_told_to_stop_just_before_a_submit_does_not_post_it(tmp_path: Path) -> None:
    """The stop comes while the submit waits for the limiter: no POST the worker may not see answered."""
    world = make_world(tmp_path)
    world.add_job(JobState.PENDING)
    take_leave = world.rt.limiter.acquire

    def stop_meanwhile(*args: Any) -> float:
        world.rt.stopping.set()
        return take_leave(*args)

    world.rt.limiter.acquire = stop_meanwhile  # type: ignore[method-assign]
    world.step()
    job = world.job()
    assert world.api.calls == []
    assert (job.state, job.submits, job.lease_owner) == ("pending", 0, None)
    assert job.next_action_at <= world.clock()  # given back, due at once for another worker


def test_a_stopping_worker_waits_for_the_answer_of_a_submit_being_sent(tmp_path: Path) -> None:
    """``wait_for_posts`` (a stopping worker, past its grace) returns once the request id is written."""
    world = make_world(tmp_path)
    world.add_job(JobState.PENDING)
    sending, answer = threading.Event(), threading.Event()

    def post(inputs: dict[str, Any]) -> str:
        sending.set()
        assert answer.wait(10)
        return "req-1"

    world.api.script("submit", post)
    step = threading.Thread(target=world.step)
    step.start()
    assert sending.wait(10)
    world.rt.stopping.set()
    assert world.rt.wait_for_posts(0.0) == 1  # under way: the worker would have to wait for it
    answer.set()
    assert world.rt.wait_for_posts(10) == 0
    step.join(10)
    job = world.job()
    assert (job.state, job.request_id, job.submits, job.uncertain_submits) == ("queued", "req-1", 1, 0)


@pytest.mark.parametrize(("policy", "state"), [("hold", "held"), ("resubmit", "pending")])
def test_an_error_of_ours_after_the_post_is_an_uncertain_submit_named_as_such(
        tmp_path: Path, policy: str, state: str) -> None:
    """Not "worker lost", not a plain retry: upstream may have taken the job; the policy decides, counted."""
    world = make_world(tmp_path, uncertain_submit=policy)
    world.add_job(JobState.PENDING)

    def post(inputs: dict[str, Any]) -> str:
        raise RuntimeError("counting the answer failed")

    world.api.script("submit", post)
    world.step()
    job = world.job()
    assert (job.state, job.uncertain_submits, job.lease_owner) == (state, 1, None)
    assert world.moves() == [("pending", "submitting"), ("submitting", state)]
    with world.rt.sessions() as session:
        detail = session.scalars(select(JobEvent.detail).where(JobEvent.job_id == world.job_id)
                                 .order_by(JobEvent.id.desc())).first()
    assert "internal error during submit: RuntimeError('counting the answer failed')" in (detail or "")


def test_a_submit_that_comes_late_renews_its_lease_before_the_post(tmp_path: Path) -> None:
    """A step run near the end of its lease (a loaded worker) still holds the job for the whole POST."""
    world = make_world(tmp_path)
    world.add_job(JobState.PENDING)
    with transaction(world.rt.sessions) as session:
        store.update_job(session, world.job_id, JobState.PENDING, OWNER, lease_until=world.clock() + 1.0)
    held_until: list[float | None] = []

    def post(inputs: dict[str, Any]) -> str:
        held_until.append(world.job().lease_until)
        return "req-1"

    world.api.script("submit", post)
    world.step()
    assert held_until == [world.clock() + world.rt.settings.lease_seconds]
    assert world.job().state == "queued"
