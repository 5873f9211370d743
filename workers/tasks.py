"""Thin Celery tasks: the periodic tick and one job step. No business logic lives here."""

from __future__ import annotations

import contextlib
import threading
import time

import redis
from celery.signals import worker_process_init
from sqlalchemy.orm import Session, sessionmaker

from batch.config import load_settings
from batch.engine import notify, recovery
from batch.engine.runtime import Runtime, build_runtime
from batch.engine.steps import advance_all, give_back
from batch.engine.tick import tick as run_tick
from batch.schedules import firing as scheduler
from batch.store import db
from workers.app import app, broker_url, tick_lock_name

_runtime: Runtime | None = None
_client: redis.Redis | None = None
_runtime_lock = threading.Lock()
_stop = threading.Event()  # the worker stops (see workers.lifecycle): shared by every Runtime built here


def runtime() -> Runtime:
    """This process's Runtime, built on first use."""
    global _runtime
    with _runtime_lock:
        if _runtime is None:
            _runtime = build_runtime(load_settings(), redis_url=broker_url())
            _runtime.stopping = _stop
        return _runtime


def _redis() -> redis.Redis:
    global _client
    if _client is None:
        _client = redis.Redis.from_url(broker_url())
    return _client


@worker_process_init.connect
def _after_fork(**_: object) -> None:
    """A forked pool process must not share its parent's database connections."""
    global _runtime, _client
    db.dispose_engines()
    _runtime = None
    _client = None


@app.task(name="workers.tasks.tick", ignore_result=True)
def tick() -> int:
    """Claim due jobs and queue step tasks (jobs due together share one); one tick at a time per scope."""
    rt = runtime()
    batches = rt.settings.run_batches  # the workers of ``run X`` serve batch X only
    client = _redis()
    run = recovery.server_run(client, batches)
    # one lock per server run: one held at a kill is restored from the AOF, and would stop ticks for a minute
    lock = client.lock(f"{tick_lock_name(batches)}:{run.run_id}", timeout=60, blocking=False)
    if not lock.acquire():
        return 0
    try:
        recovery.recover(rt, client, batches, run)  # a broker that lost its messages: their jobs go out now
        # jobs due later in this tick, or paced to the API budget, go with a countdown
        return run_tick(rt, lambda job_ids, owner: steps.delay(job_ids, owner),
                        dispatch_later=lambda job_ids, owner, delay: steps.apply_async((job_ids, owner),
                                                                                      countdown=delay),
                        batch_ids=batches)
    finally:
        # the lock may have expired while a very long tick ran; nothing else to undo then
        with contextlib.suppress(redis.exceptions.LockError):
            lock.release()


_in_flight: dict[int, tuple[list[int], str]] = {}  # by thread: the jobs a steps task is advancing


@app.task(name="workers.tasks.steps", ignore_result=True)
def steps(job_ids: list[int], owner: str) -> None:
    """Advance each job, in order, while it holds the lease ``owner``."""
    me = threading.get_ident()
    _in_flight[me] = (job_ids, owner)
    try:
        advance_all(runtime(), job_ids, owner)
    finally:
        _in_flight.pop(me, None)


def stopping() -> None:
    """This worker stops: the steps tasks start no further step and give their jobs back."""
    _stop.set()


def wait_for_posts(timeout: float) -> int:
    """Wait up to ``timeout`` seconds for the submits being sent to be answered and written; how many were not."""
    return runtime().wait_for_posts(timeout) if _runtime is not None else 0


def running() -> bool:
    """True while a steps task of this worker is advancing its jobs."""
    return bool(_in_flight)


def give_back_in_flight() -> int:
    """Give back the jobs of the steps tasks still running (a stop past its grace); how many were held."""
    held = list(_in_flight.values())
    return sum(give_back(runtime(), ids, owner) for ids, owner in held) if held else 0


def _sessions() -> sessionmaker[Session]:
    """Sessions on the configured database (no API token needed, unlike ``runtime()``)."""
    return db.session_factory(load_settings().db_url)


@app.task(name="workers.tasks.fire_schedules", ignore_result=True)
def fire_schedules() -> int:
    """Fire the due slots of the schedules in ``NANOBATCH_SCHEDULES``; safe to run twice at once."""
    return len(scheduler.fire_configured(_sessions(), time.time()))


@app.task(name="workers.tasks.notify_finished", ignore_result=True)
def notify_finished() -> int:
    """Send the batch-end notifications that are due."""
    return notify.notify_finished(_sessions(), time.time())
