"""Scale-out: three Celery workers and one beat on PostgreSQL + Redis, one worker stopped mid-batch.

500 jobs against the simulator (a subprocess, 0.5-1.5 s per job, 64 upstream workers, journal
on). One worker gets SIGTERM while the batch runs: a warm shutdown finishes its current steps,
and whatever it had not started comes back through the leases. Every job must succeed, each
job's body must reach the API once (jobs with an uncertain submit excepted, as reported), and
each output must be recorded once.
"""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import func, select

from batch.commands.batches import create_batch
from batch.core.states import TERMINAL
from batch.manifest import load_manifest
from batch.simulator import spawn_simulator
from batch.simulator.journal import body_sha256
from batch.store import db
from batch.store.models import Job, Output
from batch.testing.cluster import cluster_env, running_cluster, wait_until
from tests.conftest import Backend
from tests.helpers import journal_submits, write_manifest

pytestmark = pytest.mark.slow
DEADLINE = 180.0


def _terminal(db_url: str, batch_id: int) -> int:
    with db.session_factory(db_url)() as session:
        return session.scalar(select(func.count()).select_from(Job).where(
            Job.batch_id == batch_id, Job.state.in_([s.value for s in TERMINAL]))) or 0


@pytest.mark.parametrize("backend", ["servers"], indirect=True)  # PostgreSQL + system Redis, or skipped
def test_three_workers_one_beat_and_a_warm_shutdown(tmp_path: Path, backend: Backend) -> None:
    journal = tmp_path / "journal.jsonl"
    sessions = db.session_factory(backend.db_url)
    sim_args = ["--latency", "0.5-1.5", "--workers", "64", "--journal", str(journal)]
    with spawn_simulator(sim_args) as sim:
        manifest = load_manifest(write_manifest(tmp_path, sim.base_url, items=100, styles=5, name="scale"))
        env = cluster_env(home=tmp_path / "home", db_url=backend.db_url, redis_url=backend.redis_url,
                          api_base=sim.base_url, NANOBATCH_LEASE_SECONDS="5", NANOBATCH_REQUESTS_PER_SECOND="500",
                          NANOBATCH_MAX_IN_FLIGHT="200", NANOBATCH_TICK_SECONDS="0.5")
        started = time.monotonic()
        batch_id = create_batch(sessions, manifest, now=time.time())
        with running_cluster(env, tmp_path / "logs") as cluster:
            for name in ("w1", "w2", "w3"):
                cluster.worker(name)
            cluster.beat()
            assert wait_until(lambda: _terminal(backend.db_url, batch_id) >= 100, 90), cluster.log_tail()
            stopped_at = _terminal(backend.db_url, batch_id)
            assert cluster.stop("w2") == 0, cluster.log_tail()  # SIGTERM: warm shutdown, exit 0
            all_done = wait_until(lambda: _terminal(backend.db_url, batch_id) == 500, DEADLINE)
            assert all_done, f"{_terminal(backend.db_url, batch_id)}/500 done\n{cluster.log_tail()}"
        elapsed = time.monotonic() - started
    print(f"\n500 jobs, 3 workers (one stopped at {stopped_at} done): {elapsed:.1f} s")

    with sessions() as session:
        jobs = session.scalars(select(Job).where(Job.batch_id == batch_id)).all()
        outputs = session.scalars(select(Output).join(Job).where(Job.batch_id == batch_id)).all()
    assert Counter(j.state for j in jobs) == {"succeeded": 500}
    submitted = journal_submits(journal)
    sure = [j for j in jobs if j.uncertain_submits == 0]
    assert [submitted.get(body_sha256(j.inputs), 0) for j in sure] == [1] * len(sure)
    assert all(j.submits == 1 for j in sure)
    assert all(submitted.get(body_sha256(j.inputs), 0) >= 1 for j in jobs if j.uncertain_submits)
    assert Counter(o.job_id for o in outputs) == Counter({j.id: 1 for j in jobs})
    assert len({o.path for o in outputs}) == 500 and all(Path(o.path).is_file() for o in outputs)
    uncertain = sum(j.uncertain_submits for j in jobs)
    print(f"uncertain submits: {uncertain}; journal submits: {sum(submitted.values())}")
