"""The limiter shared by OS processes, and the 429 pause in a real run against the simulator."""

from __future__ import annotations

import itertools
import multiprocessing
import time
from pathlib import Path

import redis
from sqlalchemy import func, select

from batch.embedded.redis import PAUSE_KEY
from batch.engine.tick import drain, tick
from batch.simulator import SimulatorConfig, running_simulator
from batch.store.models import Job
from batch.upstream.limiter import Rates, RedisLimiter
from tests.conftest import Backend
from tests.helpers import make_runtime, make_settings, submit_manifest, write_manifest

RATE = 20


def hammer(url: str, seconds: float, out: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    """Acquire in a loop for ``seconds``; report the limiter-clock time of every grant."""
    stamps: list[float] = []
    last = [0.0]

    def clock() -> float:
        last[0] = time.time()
        return last[0]

    limiter = RedisLimiter(url, clock=clock)
    end = time.time() + seconds
    while time.time() < end:
        wait = limiter.acquire("status", Rates(RATE))
        if wait == 0:
            stamps.append(last[0])
        else:
            time.sleep(min(wait, 0.01))  # a test driver, not timing logic: spin gently
    out.put(stamps)


def busiest_second(stamps: list[float]) -> int:
    ordered = sorted(stamps)
    best, j = 0, 0
    for i, start in enumerate(ordered):
        while j < len(ordered) and ordered[j] < start + 1.0:
            j += 1
        best = max(best, j - i)
    return best


def test_two_processes_share_one_budget(backend: Backend) -> None:
    ctx = multiprocessing.get_context("spawn")
    out: multiprocessing.Queue = ctx.Queue()  # type: ignore[type-arg]
    procs = [ctx.Process(target=hammer, args=(backend.redis_url, 2.0, out)) for _ in range(2)]
    for proc in procs:
        proc.start()
    results = [out.get(timeout=60) for _ in procs]
    for proc in procs:
        proc.join(30)
    stamps = results[0] + results[1]
    assert all(results), "both processes got calls through"
    assert busiest_second(stamps) <= RATE
    assert len(stamps) >= RATE * 2 - 2  # and the budget is used, not starved (2 s at 20/s, give or take)


def test_a_429_pauses_everyone_and_every_job_still_succeeds(tmp_path: Path, backend: Backend) -> None:
    with running_simulator(SimulatorConfig(latency=(0.0, 0.3), rate_limit=4.0, workers=8)) as sim:
        settings = make_settings(tmp_path, backend.db_url, sim.base_url, requests_per_second=12.0, max_attempts=8)
        rt = make_runtime(settings, backend.redis_url)
        batch_id = submit_manifest(rt, write_manifest(tmp_path, sim.base_url, items=4, styles=3), time.time())
        drain(rt, batch_id, timeout=120)
        stats = sim.stats()
    client = redis.Redis.from_url(backend.redis_url)
    assert stats["rate_limited"] > 0, "the simulator's limit was hit"
    assert client.exists(PAUSE_KEY), "the 429 set the shared pause"
    with rt.sessions() as session:
        states = dict(session.execute(select(Job.state, func.count()).group_by(Job.state)).all())
    assert states == {"succeeded": 12}
    assert stats["submits"] == 12 and stats["duplicate_submits"] == 0


def test_the_tick_claims_what_the_budget_allows_and_paces_it(tmp_path: Path, backend: Backend) -> None:
    settings = make_settings(tmp_path, backend.db_url, "http://127.0.0.1:9", requests_per_second=10.0,
                             max_in_flight=100, tick_seconds=1.0)
    rt = make_runtime(settings, backend.redis_url)
    batch_id = submit_manifest(rt, write_manifest(tmp_path, "http://127.0.0.1:9", items=10, styles=3), time.time())
    handed: list[tuple[int, float]] = []
    now_ = tick(rt, lambda job_ids, owner: handed.extend((i, 0.0) for i in job_ids),
                dispatch_later=lambda job_ids, owner, delay: handed.extend((i, delay) for i in job_ids))
    pace = 1 / (1 + settings.rate_guard_seconds)  # below 0.97: the guarded windows let no more through
    assert now_ == len(handed) == 14  # 1.5 ticks ahead at 10/s x 0.909 pace: 14 of the 30 submits
    delays = sorted(d for _, d in handed)
    assert delays[0] < 0.05
    gaps = [b - a for a, b in itertools.pairwise(delays)]
    assert all(abs(g - 1 / (10 * pace)) < 0.02 for g in gaps), gaps  # evenly spread at the pace, not a burst
    again = tick(rt, lambda job_ids, owner: None, dispatch_later=lambda job_ids, owner, delay: None)
    assert again <= 1  # the next tick finds the budget of the coming period already planned
    with rt.sessions() as session:
        leased = session.scalar(select(func.count()).where(Job.batch_id == batch_id, Job.lease_owner.is_not(None)))
    assert leased == now_ + again
