"""A broker that lost its task messages (restarted, or its data flushed): the tick hands their leases back
at once, and no step runs twice (a late message runs nothing, a running step keeps its lease).

On SQLite with the embedded server, and on PostgreSQL with the system Redis when the environment
names them. The restart of the embedded server under ``nanobatch run`` is
``tests/acceptance/test_cli_broker_loss.py``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import redis
import requests
from sqlalchemy import select

from batch.commands.batches import create_batch
from batch.config import Settings
from batch.engine import recovery
from batch.engine.runtime import Runtime
from batch.engine.steps import advance_all
from batch.engine.tick import tick
from batch.manifest import load_manifest
from batch.store import db
from batch.store.models import Job
from batch.testing.clock import ManualClock
from batch.testing.fake_api import FakeApi
from batch.testing.helpers import write_manifest
from batch.upstream.limiter.memory import MemoryLimiter
from tests.conftest import Backend

Message = tuple[list[int], str]


def world(tmp_path: Path, backend: Backend, jobs: int) -> tuple[Runtime, FakeApi, redis.Redis]:
    """A runtime on the backend's database (a fake API, a hand-moved clock) with a batch of ``jobs``
    pending jobs, and a client of the backend's Redis whose run this scope has seen already."""
    clock = ManualClock()
    api = FakeApi()
    settings = Settings(home=tmp_path, database_url=backend.db_url, token="t", lease_seconds=60.0)
    rt = Runtime(settings=settings, sessions=db.session_factory(backend.db_url), client=api,
                 limiter=MemoryLimiter(clock=clock, rand=lambda: 0.5), http=requests.Session(), clock=clock,
                 rand=lambda: 0.5)
    manifest = load_manifest(write_manifest(tmp_path, "http://files.test", items=jobs, styles=1))
    create_batch(rt.sessions, manifest, now=clock())
    client = redis.Redis.from_url(backend.redis_url)
    assert recovery.recover(rt, client, None, recovery.server_run(client, None)) == 0  # nothing leased yet
    return rt, api, client


def lost_messages(rt: Runtime) -> list[Message]:
    """The task messages of one tick, which never reach a worker (none when every job is held)."""
    sent: list[Message] = []
    tick(rt, lambda job_ids, owner: sent.append((job_ids, owner)))
    return sent


def rows(rt: Runtime) -> list[tuple[str, int, str | None]]:
    """(state, submits, lease owner) of every job."""
    with rt.sessions() as session:
        found = session.execute(select(Job.state, Job.submits, Job.lease_owner).order_by(Job.id)).all()
    return [(state, submits, owner) for state, submits, owner in found]


def test_a_flushed_broker_hands_the_lost_messages_jobs_back_and_a_late_message_runs_nothing(
        tmp_path: Path, backend: Backend) -> None:
    rt, api, client = world(tmp_path, backend, jobs=3)
    late = lost_messages(rt)
    assert sum(len(job_ids) for job_ids, _ in late) == 3
    assert not recovery.server_run(client, None).new
    assert lost_messages(rt) == []  # without a word from the broker, the jobs wait out their lease

    client.flushdb()  # the system Redis flushed (a restart without its data reads the same)
    run = recovery.server_run(client, None)
    assert run.new
    assert recovery.recover(rt, client, None, run) == 3
    assert not recovery.server_run(client, None).new  # said once

    for job_ids, owner in late:  # the lost messages turn up after all: their leases are no longer theirs
        advance_all(rt, job_ids, owner)
    assert api.calls == []
    assert tick(rt, lambda job_ids, owner: advance_all(rt, job_ids, owner)) == 3  # due again at once
    assert api.names() == ["submit"] * 3
    assert rows(rt) == [("queued", 1, None)] * 3


def test_a_lease_whose_step_runs_is_not_handed_back(tmp_path: Path, backend: Backend) -> None:
    rt, api, client = world(tmp_path, backend, jobs=1)
    [(job_ids, owner)] = lost_messages(rt)
    during_post: list[Any] = []

    def post(_: dict[str, Any]) -> str:  # the broker is lost while the worker POSTs
        client.flushdb()
        during_post.append(recovery.recover(rt, client, None, recovery.server_run(client, None)))
        during_post.append(lost_messages(rt))
        return "req-1"

    api.script("submit", post)
    advance_all(rt, job_ids, owner)
    assert during_post == [0, []]  # nothing handed back, nothing claimed again
    assert api.names() == ["submit"]
    assert rows(rt) == [("queued", 1, None)]


def test_a_message_delivered_twice_steps_its_jobs_once(tmp_path: Path, backend: Backend) -> None:
    rt, api, _ = world(tmp_path, backend, jobs=1)
    [(job_ids, owner)] = lost_messages(rt)

    def post(_: dict[str, Any]) -> str:  # the same message delivered again while the first one runs
        advance_all(rt, job_ids, owner)
        return "req-1"

    api.script("submit", post)
    advance_all(rt, job_ids, owner)
    assert api.names() == ["submit"]
    assert rows(rt) == [("queued", 1, None)]

