"""Real Celery worker processes against the simulator: a normal batch, a SIGKILL, a Redis flush.

Each crash test ends with every job terminal, each output recorded once and verified, and the
simulator's journal showing no body submitted twice except for uncertain submits, which the
batch counts.
"""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path

import pytest
import redis
from sqlalchemy import func, select

from batch.commands.batches import create_batch
from batch.manifest import load_manifest
from batch.simulator import spawn_simulator
from batch.store import db
from batch.store.models import Job, Output
from batch.store.queries import batch_status
from batch.testing.cluster import cluster_env, running_cluster, wait_until
from tests.conftest import Backend
from tests.helpers import journal_submits, write_manifest


def finished(sessions: object, batch_id: int) -> int:
    with sessions() as s:  # type: ignore[operator]
        return int(s.scalar(select(func.count()).where(Job.batch_id == batch_id, Job.finished_at.is_not(None))))


def check_batch(sessions: object, batch_id: int, journal: Path, expected: int) -> None:
    status = batch_status(sessions, batch_id)  # type: ignore[arg-type]
    assert status is not None and status.done
    assert status.counts == {"succeeded": expected}, status.counts
    with sessions() as s:  # type: ignore[operator]
        jobs = s.scalars(select(Job).where(Job.batch_id == batch_id)).all()
        outputs = s.scalars(select(Output)).all()
    by_job = {o.job_id: o for o in outputs}
    assert len(outputs) == len(by_job) == expected  # one output row per job, none twice
    for out in outputs:
        assert hashlib.sha256(Path(out.path).read_bytes()).hexdigest() == out.sha256
    assert not list(Path(outputs[0].path).parents[1].rglob("*.part"))
    submits = journal_submits(journal)  # keyed by the simulator's hash of the canonical body
    for job in jobs:
        body_hash = hashlib.sha256(
            json.dumps(job.inputs, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
        assert submits.get(body_hash, 0) <= 1 + job.uncertain_submits, (job.key, submits.get(body_hash))
        assert submits.get(body_hash, 0) >= 1


def run_batch(tmp_path: Path, backend: Backend, *, items: int, styles: int, latency: str,
              crash: str | None) -> None:
    journal = tmp_path / "journal.jsonl"
    with spawn_simulator(["--latency", latency, "--workers", "32", "--journal", str(journal)]) as sim:
        sessions = db.session_factory(backend.db_url)
        manifest = load_manifest(write_manifest(tmp_path, sim.base_url, items=items, styles=styles))
        batch_id = create_batch(sessions, manifest, now=time.time())
        total = items * styles
        env = cluster_env(home=tmp_path, db_url=backend.db_url, redis_url=backend.redis_url, api_base=sim.base_url,
                          NANOBATCH_LEASE_SECONDS="3", NANOBATCH_TICK_SECONDS="0.5",
                          NANOBATCH_REQUESTS_PER_SECOND="500", NANOBATCH_MAX_IN_FLIGHT="100")
        with running_cluster(env, tmp_path / "logs") as cluster:
            cluster.beat()
            cluster.worker("w1")
            if crash is not None:
                assert wait_until(lambda: finished(sessions, batch_id) >= total // 4, 90), cluster.log_tail()
                if crash == "sigkill":
                    cluster.kill("w1")
                    cluster.worker("w2")
                else:
                    redis.Redis.from_url(backend.redis_url).flushall()
            assert wait_until(lambda: finished(sessions, batch_id) == total, 150), cluster.log_tail()
        time.sleep(1.0)  # the journal flushes every 0.5 s
    check_batch(sessions, batch_id, journal, total)


def test_worker_process_runs_a_batch(tmp_path: Path, backend: Backend) -> None:
    run_batch(tmp_path, backend, items=4, styles=3, latency="0.2-0.8", crash=None)


@pytest.mark.slow
def test_sigkill_mid_batch_loses_nothing(tmp_path: Path, backend: Backend) -> None:
    run_batch(tmp_path, backend, items=13, styles=4, latency="0.5-2", crash="sigkill")


@pytest.mark.slow
def test_redis_flush_mid_batch_loses_nothing(tmp_path: Path, backend: Backend) -> None:
    run_batch(tmp_path, backend, items=13, styles=4, latency="0.5-2", crash="flush")
