"""Thin Celery tasks: the periodic tick and one job step. No business logic lives here."""

from __future__ import annotations

import contextlib
import threading

import redis
from celery.signals import worker_process_init

from batch import db
from batch.config import load_settings
from batch.runtime import Runtime, build_runtime
from batch.steps import advance
from batch.tick import tick as run_tick
from workers.app import app, broker_url

_runtime: Runtime | None = None
_client: redis.Redis | None = None
_runtime_lock = threading.Lock()


def runtime() -> Runtime:
    """This process's Runtime, built on first use."""
    global _runtime
    with _runtime_lock:
        if _runtime is None:
            _runtime = build_runtime(load_settings(), redis_url=broker_url())
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
    """Claim due jobs and queue one step task per job; one tick at a time across all machines."""
    rt = runtime()
    lock = _redis().lock("nanobatch:tick", timeout=60, blocking=False)
    if not lock.acquire():
        return 0
    try:
        return run_tick(rt, lambda job_id, owner: step.delay(job_id, owner))
    finally:
        # the lock may have expired while a very long tick ran; nothing else to undo then
        with contextlib.suppress(redis.exceptions.LockError):
            lock.release()


@app.task(name="workers.tasks.step", ignore_result=True)
def step(job_id: int, owner: str) -> None:
    """Advance one job while it holds the lease ``owner``."""
    advance(runtime(), job_id, owner)
