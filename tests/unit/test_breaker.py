"""The circuit breaker: its rules alone, then the step handlers with the fake API (issue 13 item 4)."""

from __future__ import annotations

from pathlib import Path

import pytest

from batch import errors
from batch.commands import operations
from batch.config import Settings
from batch.core.breaker import Breaker, setup_problem
from batch.core.states import JobState
from batch.engine.breaker import PAUSED_POLL_SECONDS
from batch.errors import ConfigError
from batch.store import queries
from batch.upstream.client import Result
from tests.unit.test_steps import World, make_world

S = JobState
BASE = "http://api.test:8080"
REFUSED = errors.NotDelivered("POST /v1: could not connect", unreachable="connection refused")


@pytest.fixture
def world(tmp_path: Path) -> World:
    return make_world(tmp_path, api_base=BASE)


@pytest.mark.parametrize(("exc", "names"), [
    (errors.AuthError("bad token", status=401), ["HTTP 401", "RUNCOMFY_API_TOKEN"]),
    (errors.AuthError("not yours", status=403), ["HTTP 403", "RUNCOMFY_API_TOKEN"]),
    (REFUSED, ["connection refused", "RUNCOMFY_API_BASE"]),
    (errors.PaymentRequired("insufficient balance", status=402), ["HTTP 402", "top up the balance"]),
    (errors.NotDelivered("x", unreachable="host name not found"), ["host name not found", "RUNCOMFY_API_BASE"]),
])
def test_setup_errors_name_the_host_and_the_fix(exc: errors.ApiError, names: list[str]) -> None:
    problem = setup_problem(exc, BASE)
    assert problem is not None and BASE in problem and all(name in problem for name in names)


@pytest.mark.parametrize("exc", [
    errors.NotDelivered("connect timeout"), errors.ServerError("503"), errors.RateLimited("slow"),
    errors.ValidationError("422"), errors.UncertainDelivery("no answer"),
])
def test_failures_that_may_pass_are_not_setup_errors(exc: errors.ApiError) -> None:
    assert setup_problem(exc, BASE) is None


def test_the_breaker_trips_when_every_call_of_its_window_failed() -> None:
    breaker = Breaker(window=3)
    assert breaker.failed(errors.ServerError("503"), BASE) is None
    breaker.succeeded()
    assert [breaker.failed(errors.ServerError("503"), BASE) for _ in range(2)] == [None, None]
    reason = breaker.failed(errors.ServerError("503 again"), BASE)
    assert reason is not None and "last 3 calls" in reason and "503 again" in reason and BASE in reason
    assert breaker.failed(errors.ServerError("503"), BASE) is None  # counted afresh after tripping


def test_rate_limits_do_not_count_as_failures() -> None:
    breaker = Breaker(window=2)
    breaker.failed(errors.ServerError("503"), BASE)
    assert breaker.failed(errors.RateLimited("slow down"), BASE) is None
    assert breaker.failed(errors.ServerError("503"), BASE) is not None


def test_a_breaker_needs_a_window() -> None:
    with pytest.raises(ValueError, match="at least one call"):
        Breaker(window=0)


@pytest.mark.parametrize(("base", "token", "names"), [
    ("http://127.0.0.1:9", None, "RUNCOMFY_API_TOKEN"),
    ("127.0.0.1:8765", "t", "RUNCOMFY_API_BASE"),
    ("ftp://files.test", "t", "RUNCOMFY_API_BASE"),
    ("http://host:port", "t", "RUNCOMFY_API_BASE"),
])
def test_the_api_settings_are_checked_whatever_the_base(tmp_path: Path, base: str, token: str | None,
                                                        names: str) -> None:
    with pytest.raises(ConfigError, match=names):
        Settings(home=tmp_path, api_base=base, token=token).check_api()
    assert Settings(home=tmp_path, api_base="http://127.0.0.1:9", token="t").check_api() == "t"


def pending_batch(world: World, extra: int = 2) -> None:
    """The job under test (pending, leased) and ``extra`` unleased pending jobs of the same batch."""
    from batch.store.db import transaction
    from batch.store.models import Job

    job_id = world.add_job()
    with transaction(world.rt.sessions) as session:
        job = session.get_one(Job, job_id)
        for n in range(extra):
            session.add(Job(batch_id=job.batch_id, key=f"other{n}", state=S.PENDING.value, inputs=job.inputs,
                            output_name=f"o{n}.png", fingerprint="e" * 64, next_action_at=world.clock(),
                            created_at=world.clock(), lease_owner="worker-2" if n == 0 else None,
                            lease_until=world.clock() + 60 if n == 0 else None))  # the first held by a worker


def status(world: World) -> queries.BatchStatus:
    found = queries.batch_status(world.rt.sessions, world.job().batch_id)
    assert found is not None
    return found


@pytest.mark.parametrize("exc", [errors.AuthError("invalid token", status=401), REFUSED])
def test_a_setup_error_on_submit_parks_the_batch_without_spending_attempts(world: World,
                                                                          exc: errors.ApiError) -> None:
    pending_batch(world)
    world.api.script("submit", exc)
    world.step()
    job = world.job()
    assert (job.state, job.attempts, job.submits, job.lease_owner) == ("parked", 0, 0, None)
    assert world.moves() == [("pending", "submitting"), ("submitting", "pending"), ("pending", "parked")]
    found = status(world)
    assert found.counts == {"parked": 3} and found.paused is not None and BASE in found.paused
    assert found.as_json()["paused"] == found.paused
    assert operations.resume(world.rt, job.batch_id) == 3
    assert status(world).paused is None and status(world).counts == {"pending": 3}


def test_a_refused_token_on_a_poll_keeps_the_job_in_flight_with_its_attempts(world: World) -> None:
    world.add_job(S.QUEUED, request_id="req-1", submitted_at=world.clock() - 5, attempts=1)
    world.api.script("result", errors.AuthError("invalid token", status=401))
    world.step()
    job = world.job()
    assert (job.state, job.attempts, job.request_id, job.lease_owner) == ("queued", 1, "req-1", None)
    assert job.next_action_at == world.clock() + PAUSED_POLL_SECONDS
    assert status(world).paused is not None


def test_failures_that_may_pass_still_retry_until_the_window_is_full(tmp_path: Path) -> None:
    world = make_world(tmp_path, api_base=BASE)
    world.rt.breaker = Breaker(window=2)
    world.add_job(S.RUNNING, request_id="req-1", submitted_at=world.clock() - 5)
    world.api.script("result", errors.ServerError("503"), errors.ServerError("503"))
    world.step()
    assert (world.job().attempts, status(world).paused) == (1, None)  # an ordinary retry
    world.clock.advance(3600)
    world.take_lease("worker-1")
    world.step()
    assert world.job().attempts == 1 and status(world).paused is not None  # the second in a row: paused


def test_an_answered_call_resets_the_window(world: World) -> None:
    world.rt.breaker = Breaker(window=2)
    world.add_job(S.RUNNING, request_id="req-1", submitted_at=world.clock() - 5)
    world.api.script("result", errors.ServerError("503"), Result("in_progress", [], None, None),
                     errors.ServerError("503"))
    for _ in range(3):
        world.step()
        world.clock.advance(3600)
        world.take_lease("worker-1")
    assert status(world).paused is None and world.job().attempts == 2
