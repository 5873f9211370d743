"""Benchmark: does a latency-bound batch finish faster with three workers than with one?

Runs the same batch twice on PostgreSQL + Redis (a fresh schema each time): 300 jobs against the
simulator (a subprocess, 2-4 s per job upstream, 64 upstream workers), first with one
``celery -A workers worker``, then with three, each with one beat. A 1-job warm-up batch
runs first so that start-up time is not counted. Prints each wall time and the ratio.

Usage::

    NANOBATCH_TEST_DATABASE_URL=postgresql+psycopg://root@127.0.0.1:5432/test \\
    NANOBATCH_TEST_REDIS_URL=redis://127.0.0.1:6379/0 \\
    .venv/bin/python bench/bench_scale.py [--jobs 300] [--latency 2-4] [--concurrency 8]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

from sqlalchemy import func, select

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from common import write_manifest  # bench/ is on sys.path: this script's own folder

from batch.commands.batches import create_batch
from batch.core.states import TERMINAL
from batch.manifest import load_manifest
from batch.simulator import spawn_simulator
from batch.store import db
from batch.store.db import fresh_pg_schema
from batch.store.models import Job
from batch.testing.cluster import cluster_env, running_cluster, wait_until

STYLES = 5


def terminal(db_url: str, batch_id: int) -> tuple[int, int]:
    """(terminal jobs, succeeded or cached jobs) of the batch."""
    with db.session_factory(db_url)() as session:
        rows: dict[str, int] = {state: count for state, count in session.execute(
            select(Job.state, func.count()).where(Job.batch_id == batch_id).group_by(Job.state))}
    good = rows.get("succeeded", 0) + rows.get("cached", 0)
    return sum(n for s, n in rows.items() if s in {t.value for t in TERMINAL}), good


def one_run(workers: int, args: argparse.Namespace, pg_url: str, redis_url: str) -> float:
    """Wall time (s) of the batch with ``workers`` worker processes."""
    with tempfile.TemporaryDirectory(prefix="nb-bench-") as tmp, fresh_pg_schema(pg_url) as db_url, \
            spawn_simulator(["--latency", args.latency, "--workers", "64"]) as sim:
        folder = Path(tmp)
        sessions = db.session_factory(db_url)
        # webp: no earlier output to reuse
        warm_manifest = write_manifest(folder / "warm", sim.base_url, 1, styles=1, fmt="webp", name="warm")
        warm = create_batch(sessions, load_manifest(warm_manifest), now=time.time())
        manifest = load_manifest(write_manifest(folder / "main", sim.base_url, args.jobs // STYLES * STYLES,
                                                styles=STYLES, fmt="png", name="bench"))
        env = cluster_env(home=folder / "home", db_url=db_url, redis_url=redis_url, api_base=sim.base_url,
                          NANOBATCH_LEASE_SECONDS="30", NANOBATCH_REQUESTS_PER_SECOND="500",
                          NANOBATCH_MAX_IN_FLIGHT="200", NANOBATCH_TICK_SECONDS="0.5")
        with running_cluster(env, folder / "logs") as cluster:
            for i in range(workers):
                cluster.worker(f"bench{i + 1}", concurrency=args.concurrency)
            cluster.beat()
            if not wait_until(lambda: terminal(db_url, warm)[0] == 1, 60):
                raise SystemExit(f"warm-up batch did not finish\n{cluster.log_tail()}")
            started = time.monotonic()
            batch_id = create_batch(sessions, manifest, now=time.time())
            total = len(manifest.jobs)
            if not wait_until(lambda: terminal(db_url, batch_id)[0] == total, args.deadline, interval=0.1):
                raise SystemExit(f"batch not done after {args.deadline} s\n{cluster.log_tail()}")
            elapsed = time.monotonic() - started
        done, succeeded = terminal(db_url, batch_id)
        print(f"{workers} worker(s) x {args.concurrency} threads: {total} jobs in {elapsed:6.1f} s "
              f"({total / elapsed:5.1f} jobs/s, {succeeded}/{done} succeeded)", flush=True)
        with sessions() as session:
            for key, error in session.execute(select(Job.key, Job.error).where(
                    Job.batch_id == batch_id, Job.state.not_in(["succeeded", "cached"])).limit(5)):
                print(f"  not succeeded: {key}: {error}", flush=True)
        return elapsed


def main() -> None:
    """Parse the options, run with one worker then three, print the ratio."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=300)
    parser.add_argument("--latency", default="2-4", help="simulator --latency (seconds, MIN-MAX)")
    parser.add_argument("--concurrency", type=int, default=8, help="threads per worker")
    parser.add_argument("--deadline", type=float, default=600.0)
    args = parser.parse_args()
    pg_url, redis_url = os.environ.get("NANOBATCH_TEST_DATABASE_URL"), os.environ.get("NANOBATCH_TEST_REDIS_URL")
    if not (pg_url and redis_url):
        raise SystemExit("set NANOBATCH_TEST_DATABASE_URL (PostgreSQL) and NANOBATCH_TEST_REDIS_URL")
    print(f"{args.jobs} jobs, simulator latency {args.latency} s, 64 upstream workers, max_in_flight 200")
    one = one_run(1, args, pg_url, redis_url)
    three = one_run(3, args, pg_url, redis_url)
    print(f"ratio 1 worker / 3 workers: {one / three:.2f}x")


if __name__ == "__main__":
    main()
