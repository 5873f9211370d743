"""Each step handler of ``engine/steps.py`` alone: a SQLite file database, the fake API client, an
in-memory limiter and a hand-moved clock. What is checked is behaviour (states, rows, events,
calls made upstream), not what a handler returns."""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import requests
from PIL import Image
from sqlalchemy import select

from batch import errors
from batch.config import Settings
from batch.core.schema import OUTPUT_DIMENSIONS
from batch.core.states import JobState
from batch.engine import steps
from batch.engine.runtime import Runtime
from batch.store import db
from batch.store import jobs as store
from batch.store.db import transaction
from batch.store.models import Batch, Job, JobEvent, Output
from batch.testing.clock import ManualClock
from batch.testing.fake_api import ApiCall, FakeApi
from batch.upstream.client import Result, Status
from batch.upstream.limiter import MemoryLimiter
from tests.helpers import Answer, HandlerAdapter

S = JobState
OWNER = "worker-1"
FILES = "http://files.test"
INPUTS = {"prompt": "a red shoe", "image_urls": [f"{FILES}/in.png"], "resolution": "1K", "aspect_ratio": "1:1",
          "output_format": "png"}


def png(size: tuple[int, int]) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, (200, 30, 30)).save(buffer, format="PNG")
    return buffer.getvalue()


@dataclass
class World:
    """The runtime with its fake parts, and the job under test."""

    rt: Runtime
    api: FakeApi
    clock: ManualClock
    limiter: MemoryLimiter
    job_id: int = 0

    def add_job(self, state: JobState = S.PENDING, **values: Any) -> int:
        """A batch with one job in ``state``, leased to ``OWNER``."""
        now = self.clock()
        with transaction(self.rt.sessions) as session:
            batch = Batch(name="b", manifest_path="jobs.yaml", output_dir=str(self.rt.settings.home / "out"),
                          created_at=now, options={})
            session.add(batch)
            session.flush()
            job = Job(batch_id=batch.id, key="j1", state=state.value, inputs=INPUTS, output_name="j1.png",
                      fingerprint="f" * 64, next_action_at=now, created_at=now, lease_owner=OWNER,
                      lease_until=now + 60, **values)
            session.add(job)
            session.flush()
            self.job_id = job.id
        return self.job_id

    def step(self, owner: str = OWNER) -> None:
        """Run the handler of the job's current state once, as ``owner``."""
        with self.rt.sessions() as session:
            job = session.get_one(Job, self.job_id)
            batch = session.get_one(Batch, job.batch_id)
        steps.HANDLERS[S(job.state)](self.rt, steps.Ctx(job, batch, owner))

    def job(self) -> Job:
        with self.rt.sessions() as session:
            return session.get_one(Job, self.job_id)

    def moves(self) -> list[tuple[str | None, str]]:
        with self.rt.sessions() as session:
            events = session.scalars(select(JobEvent).where(JobEvent.job_id == self.job_id).order_by(JobEvent.id))
            return [(e.from_state, e.to_state) for e in events]

    def take_lease(self, owner: str) -> None:
        """Another worker claims the job (its lease passed to ``owner``)."""
        with transaction(self.rt.sessions) as session:
            assert store.update_job(session, self.job_id, S(self.job().state), None, lease_owner=owner)


def serve_files(request: requests.PreparedRequest) -> Answer:
    return 200, {"Content-Type": "image/png"}, png(OUTPUT_DIMENSIONS["1:1"]["1K"])


def make_world(tmp_path: Path, **settings: Any) -> World:
    clock = ManualClock()
    api = FakeApi()
    limiter = MemoryLimiter(clock=clock, rand=lambda: 0.5)
    http = requests.Session()
    http.mount(FILES, HandlerAdapter(serve_files))
    config = Settings(home=tmp_path, database_url=f"sqlite:///{tmp_path / 'nb.db'}", token="t", **settings)
    rt = Runtime(settings=config, sessions=db.session_factory(config.db_url), client=api, limiter=limiter,
                 http=http, clock=clock, rand=lambda: 0.5)
    return World(rt, api, clock, limiter)


@pytest.fixture
def world(tmp_path: Path) -> World:
    return make_world(tmp_path)


# -- submit -------------------------------------------------------------------------------------

def test_submit_writes_submitting_ahead_of_the_post_then_queues_with_the_request_id(world: World) -> None:
    world.add_job()
    seen_during_post: list[str] = []

    def post(inputs: dict[str, Any]) -> str:
        seen_during_post.append(world.job().state)
        return "req-1"

    world.api.script("submit", post)
    world.step()
    job = world.job()
    assert seen_during_post == ["submitting"]  # the write-ahead mark was committed before the POST
    assert world.api.calls == [ApiCall("submit", INPUTS)]
    assert (job.state, job.request_id, job.submits, job.submitted_at) == ("queued", "req-1", 1, world.clock())
    assert job.lease_owner is None and job.next_action_at > world.clock()
    assert world.moves() == [("pending", "submitting"), ("submitting", "queued")]


def test_a_lease_taken_before_the_step_means_no_call_and_no_write(world: World) -> None:
    world.add_job()
    world.take_lease("worker-2")
    world.step()
    job = world.job()
    assert world.api.calls == []
    assert (job.state, job.submits, job.lease_owner) == ("pending", 0, "worker-2")
    assert world.moves() == []


def test_a_lease_lost_during_the_post_writes_nothing_after_it(world: World) -> None:
    world.add_job()

    def post(inputs: dict[str, Any]) -> str:
        world.take_lease("worker-2")  # our lease expired mid-call and another worker claimed the job
        return "req-1"

    world.api.script("submit", post)
    world.step()
    job = world.job()
    assert (job.state, job.request_id, job.lease_owner) == ("submitting", None, "worker-2")
    assert world.moves() == [("pending", "submitting")]  # the new owner recovers it as an uncertain submit


def test_a_429_with_retry_after_waits_at_least_that_and_pauses_the_limiter(world: World) -> None:
    world.add_job()
    world.api.script("submit", errors.RateLimited("POST: HTTP 429", retry_after=30.0))
    world.step()
    job = world.job()
    assert (job.state, job.attempts, job.lease_owner) == ("pending", 1, None)
    assert job.next_action_at >= world.clock() + 30.0
    assert world.moves() == [("pending", "submitting"), ("submitting", "pending")]
    assert world.limiter.state()["pause"] == pytest.approx(30.0)  # every worker waits, not just this job


def test_a_429_on_a_poll_keeps_the_job_waiting_at_least_retry_after(world: World) -> None:
    world.add_job(S.QUEUED, request_id="req-1", submitted_at=world.clock())
    world.api.script("result", errors.RateLimited("GET: HTTP 429", retry_after=12.0))
    world.step()
    job = world.job()
    assert (job.state, job.attempts, job.lease_owner) == ("queued", 1, None)
    assert job.next_action_at >= world.clock() + 12.0
    assert world.limiter.state()["pause"] == pytest.approx(12.0)


def test_a_paused_limiter_makes_the_job_wait_without_a_call(world: World) -> None:
    world.add_job()
    world.limiter.rate_limited(5.0)
    world.step()
    job = world.job()
    assert world.api.calls == []
    assert (job.state, job.lease_owner, job.next_action_at) == ("pending", None, pytest.approx(world.clock() + 5.0))


@pytest.mark.parametrize(("policy", "state", "due_in"), [("hold", "held", None), ("resubmit", "pending", 0.0)])
def test_an_uncertain_submit_follows_the_policy_and_is_counted(
        tmp_path: Path, policy: str, state: str, due_in: float | None) -> None:
    world = make_world(tmp_path, uncertain_submit=policy)
    world.add_job()
    world.api.script("submit", errors.UncertainDelivery("POST: no answer (ReadTimeout)"))
    world.step()
    job = world.job()
    assert (job.state, job.uncertain_submits, job.request_id, job.lease_owner) == (state, 1, None, None)
    assert world.moves() == [("pending", "submitting"), ("submitting", state)]
    if due_in is not None:
        assert job.next_action_at == world.clock() + due_in


def test_a_worker_lost_during_submit_is_an_uncertain_submit(tmp_path: Path) -> None:
    world = make_world(tmp_path, uncertain_submit="hold")
    world.add_job(S.SUBMITTING, submits=1)
    world.step()
    job = world.job()
    assert (job.state, job.uncertain_submits) == ("held", 1)
    assert world.api.calls == []


@pytest.mark.parametrize(("state", "call"), [(S.PENDING, "submit"), (S.QUEUED, "result")])
def test_a_permanent_error_fails_the_job(world: World, state: JobState, call: str) -> None:
    world.add_job(state, request_id=None if state is S.PENDING else "req-1", submitted_at=world.clock())
    world.api.script(call, errors.ValidationError("HTTP 422 error 422001: prompt too long", status=422))
    world.step()
    job = world.job()
    assert (job.state, job.finished_at, job.lease_owner) == ("failed", world.clock(), None)
    assert "prompt too long" in (job.error or "")
    assert world.api.names() == [call]


def test_retryable_submit_errors_stop_after_max_attempts(tmp_path: Path) -> None:
    world = make_world(tmp_path, max_attempts=3)
    world.add_job(attempts=2)
    world.api.script("submit", errors.ServerError("POST: HTTP 503", status=503))
    world.step()
    job = world.job()
    assert job.state == "failed" and "gave up after 3 attempts" in (job.error or "")


@pytest.mark.parametrize("error", [errors.ServerError("GET: HTTP 503", status=503),
                                   errors.UncertainDelivery("GET: no answer (ReadTimeout)"),
                                   RuntimeError("a bug in the step")])
def test_errors_reading_a_request_spend_no_attempt_of_the_job(tmp_path: Path, error: Exception) -> None:
    """Upstream charges for a request whatever we read: the job reads it again, past NANOBATCH_MAX_ATTEMPTS."""
    world = make_world(tmp_path, max_attempts=1)
    world.add_job(S.RUNNING, request_id="req-1", submitted_at=world.clock())
    world.api.script("result", error)
    steps.advance(world.rt, world.job_id, OWNER)
    job = world.job()
    assert (job.state, job.attempts, job.lease_owner, job.request_id) == ("running", 1, None, "req-1")
    assert job.next_action_at > world.clock()
    world.clock.advance(job.next_action_at - world.clock())
    world.api.script("result", Result("succeeded", [f"{FILES}/out.png"], None, Decimal("0.15")))
    world.take_lease(OWNER)
    steps.advance(world.rt, world.job_id, OWNER)
    job = world.job()
    assert (job.state, job.cost, world.api.names()) == ("succeeded", Decimal("0.15"), ["result", "result"])


@pytest.mark.parametrize(("outcome", "state"), [("cancelled", "cancelled"), ("not_cancellable", "failed")])
def test_a_request_that_cannot_be_read_for_good_is_cancelled_upstream_or_said_unrecorded(
        tmp_path: Path, outcome: str, state: str) -> None:
    world = make_world(tmp_path, max_attempts=1, max_read_errors=3)
    world.add_job(S.QUEUED, request_id="req-1", submitted_at=world.clock(), attempts=2)
    world.api.script("result", errors.ServerError("GET: HTTP 503", status=503))
    world.api.script("cancel", outcome)
    world.step()
    job = world.job()
    assert (job.state, job.attempts, world.api.names()) == (state, 3, ["result", "cancel"])
    assert "gave up after 3 attempts" in (job.error or "")
    if state == "failed":
        assert "upstream may have charged for request req-1: its cost is not recorded" in (job.error or "")


def test_a_step_that_raises_after_the_write_ahead_move_is_an_uncertain_submit(tmp_path: Path) -> None:
    """The POST may have been accepted (the request id was lost with the error): never a plain failure."""
    world = make_world(tmp_path, max_attempts=1, uncertain_submit="hold")
    world.add_job()
    world.api.script("submit", RuntimeError("the counters could not be registered"))
    steps.advance(world.rt, world.job_id, OWNER)
    job = world.job()
    assert (job.state, job.uncertain_submits) == ("held", 1)
    assert "internal error during submit" in (job.error or "")


# -- poll and fetch -------------------------------------------------------------------------------

def test_poll_in_queue_reads_the_result_then_the_queue_position(world: World) -> None:
    world.add_job(S.QUEUED, request_id="req-1", submitted_at=world.clock() - 5)
    world.api.script("result", Result("in_queue", [], None, None))
    world.api.script("status", Status("in_queue", 7))
    world.step()
    job = world.job()
    assert (job.state, job.upstream_status, job.queue_position, job.polls) == ("queued", "in_queue", None, 1)
    world.step()
    job = world.job()
    assert world.api.calls == [ApiCall("result", "req-1"), ApiCall("status", "req-1")]
    assert (job.state, job.queue_position, job.position_at, job.polls) == ("queued", 7, world.clock(), 2)
    assert job.lease_owner is None and job.next_action_at > world.clock()
    assert world.moves() == []  # still queued: no state change, no event


def test_poll_in_progress_moves_the_job_to_running_and_comes_back_later(world: World) -> None:
    world.add_job(S.QUEUED, request_id="req-1", submitted_at=world.clock() - 5)
    world.api.script("result", Result("in_progress", [], None, None))
    world.step()
    job = world.job()
    assert (job.state, job.upstream_status, job.polls, job.lease_owner) == ("running", "in_progress", 1, None)
    assert job.next_action_at > world.clock()
    assert world.moves() == [("queued", "running")]


def test_poll_completed_fetches_the_result_and_downloads_verified_files(world: World) -> None:
    world.add_job(S.QUEUED, request_id="req-1", submitted_at=world.clock() - 30, upstream_status="in_queue")
    world.api.script("status", Status("completed", None))
    world.api.script("result", Result("succeeded", [f"{FILES}/out.png"], None, Decimal("0.15"), upstream_seconds=20.0))
    world.step()
    job = world.job()
    assert (job.state, job.completed_at, job.lease_owner) == ("fetching", world.clock(), OWNER)
    world.clock.advance(1.0)
    world.step()
    job = world.job()
    assert world.api.names() == ["status", "result"]
    assert (job.state, job.cost, job.lease_owner) == ("succeeded", Decimal("0.15"), None)
    assert job.completed_at == pytest.approx(world.clock() - 31 + 20)  # upstream's own run time, not our lag
    with world.rt.sessions() as session:
        outputs = session.scalars(select(Output).where(Output.job_id == job.id)).all()
        charged = session.get_one(Batch, job.batch_id).charged_usd
    assert [(Path(o.path).name, o.width, o.height) for o in outputs] == [("j1.png", *OUTPUT_DIMENSIONS["1:1"]["1K"])]
    assert charged == Decimal("0.15")
    assert world.moves() == [("queued", "fetching"), ("fetching", "downloading"), ("downloading", "succeeded")]


@pytest.mark.parametrize(("answer", "state"), [
    (Result("failed", [], "content policy", None), "failed"),
    (Result("cancelled", [], None, None), "cancelled"),
])
def test_poll_finds_the_job_ended_upstream(world: World, answer: Result, state: str) -> None:
    world.add_job(S.RUNNING, request_id="req-1", submitted_at=world.clock() - 5)
    world.api.script("result", answer)
    world.step()
    job = world.job()
    assert (job.state, job.upstream_status, job.lease_owner) == (state, answer.status, None)
    if answer.error:
        assert job.error == answer.error


def test_the_fake_api_refuses_an_unknown_call_name() -> None:
    with pytest.raises(ValueError, match="unknown call 'sumbit'"):
        FakeApi().script("sumbit", "req-1")


def test_the_fake_api_answers_defaults_once_the_script_is_spent() -> None:
    api = FakeApi().script("submit", "req-a")
    answers: list[Callable[[], Any]] = [lambda: api.submit({}), lambda: api.submit({}), lambda: api.cancel("x")]
    assert [a() for a in answers] == ["req-a", "fake-1", "cancelled"]
    assert api.names() == ["submit", "submit", "cancel"]
