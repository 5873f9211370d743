"""The CPU floor of a job: the work the design requires of every job, done alone in one thread.

Per job: the limiter's grant before each API call (2, in Redis), the submit with its write-ahead
(a commit before the POST and one with the request id after it), one result read, the download
with its checks (hash, decode, fsync, rename), and the commit that records the file: 3 commits,
each a conditional UPDATE plus an event row, through nanobatch's own HTTP session, API client,
limiter and download code. Left out: task messages, the tick, reads of the job, polls that find
a job unfinished. Used by ``bench_overhead.py`` as its second baseline.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from sqlalchemy import Column, Engine, Float, Integer, MetaData, String, Table, insert, update

from batch.config import Settings
from batch.files.download import DownloadLimits, download_verified
from batch.simulator import SimulatorHandle
from batch.testing.cluster import wait_until
from batch.upstream.client import ApiClient
from batch.upstream.http import HttpSession
from batch.upstream.limiter import Rates, RedisLimiter

_META = MetaData()
JOBS = Table("floor_jobs", _META, Column("id", Integer, primary_key=True), Column("state", String(20)),
             Column("request_id", String(64)), Column("at", Float))
EVENTS = Table("floor_events", _META, Column("id", Integer, primary_key=True), Column("job_id", Integer),
               Column("to_state", String(20)), Column("at", Float))
FILES = Table("floor_files", _META, Column("id", Integer, primary_key=True), Column("job_id", Integer),
              Column("path", String(500)), Column("sha256", String(64)), Column("bytes", Integer))


def _move(engine: Engine, job_id: int, source: str, target: str, file: dict[str, Any] | None = None,
          **values: Any) -> None:
    """One commit: the conditional UPDATE of the job, its event row, and the file's row if given."""
    with engine.begin() as conn:
        conn.execute(update(JOBS).where(JOBS.c.id == job_id, JOBS.c.state == source)
                     .values(state=target, at=time.time(), **values))
        conn.execute(insert(EVENTS), {"job_id": job_id, "to_state": target, "at": time.time()})
        if file is not None:
            conn.execute(insert(FILES), {"job_id": job_id, **file})


def mandated_floor(sim: SimulatorHandle, engine: Engine, redis_url: str, out: Path, jobs: int,
                   inputs: dict[str, Any]) -> float:
    """CPU ms per job of the required work only (the wait for upstream to finish is not counted)."""
    _META.create_all(engine)
    with engine.begin() as conn:
        conn.execute(insert(JOBS), [{"id": n, "state": "pending"} for n in range(jobs)])
    http = HttpSession()
    client, limiter, rates = ApiClient(sim.base_url, "bench", http=http), RedisLimiter(redis_url), Rates(100_000.0)
    done_before = sim.stats()["jobs_by_state"].get("succeeded", 0)
    started = time.process_time()
    request_ids = []
    for n in range(jobs):
        limiter.acquire("submit", rates)
        _move(engine, n, "pending", "submitting")
        request_ids.append(client.submit({**inputs, "prompt": f"floor baseline job {n}"}))
        _move(engine, n, "submitting", "queued", request_id=request_ids[-1])
    cpu = time.process_time() - started
    wait_until(lambda: sim.stats()["jobs_by_state"].get("succeeded", 0) >= done_before + jobs, 120, 0.2)
    started = time.process_time()
    limits = DownloadLimits.from_settings(Settings(home=out))
    for n, request_id in enumerate(request_ids):
        limiter.acquire("result", rates)
        result = client.result(request_id)
        saved = download_verified(http, result.urls[0], out / f"{n}.jpeg", output_format="jpeg",
                                  allowed_sizes={(1024, 1024)}, limits=limits)
        _move(engine, n, "queued", "succeeded", file={"path": saved.path, "sha256": saved.sha256, "bytes": saved.bytes})
    return 1000 * (time.process_time() - started + cpu) / jobs
