"""What Celery itself costs nanobatch's workers: CPU while idle, and CPU per task message.

Starts the two-worker cluster of ``bench_overhead.py`` (the first with the beat), runs a one-job
warm-up, then measures (1) the CPU of the idle cluster over ``IDLE_SECONDS`` (the beat's tick and
periodic tasks, kombu's polling), and (2) the CPU per message of ``MESSAGES`` step tasks that
carry no job: the publisher's side (in this process) and the workers' side (their CPU over the
drain, less the idle rate; it includes the task's one read of its jobs, here none). Figures to
set beside bench 4's CPU per job; nothing is asserted.

Usage: ``.venv/bin/python bench/bench_celery.py``
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

import redis
from common import cluster_env, database, emit, fresh_redis, running_cluster, warm_up

from batch.simulator import spawn_simulator
from batch.testing.cluster import wait_until

IDLE_SECONDS = 20.0
MESSAGES = 3000


def main() -> None:
    """Measure and print the idle CPU rate and the CPU per message."""
    with tempfile.TemporaryDirectory(prefix="nb-bench-celery-") as tmp:
        folder = Path(tmp)
        with spawn_simulator(["--latency", "0", "--workers", "8"]) as sim, database(folder, False) as db_url:
            redis_url = fresh_redis()
            env = cluster_env(folder / "home", db_url, redis_url, sim.base_url)
            with running_cluster(env, folder / "home", workers=2) as cluster:
                warm_up(db_url, folder, sim.base_url, cluster)
                before = cluster.cpu_seconds()
                time.sleep(IDLE_SECONDS)
                idle_rate = (cluster.cpu_seconds() - before) / IDLE_SECONDS
                os.environ.update(env)  # the task module's app reads its broker from the environment
                from workers.tasks import steps

                queue = redis.Redis.from_url(redis_url)
                before, started, cpu = cluster.cpu_seconds(), time.monotonic(), time.process_time()
                for _ in range(MESSAGES):
                    steps.delay([], "bench-celery")
                publish_ms = 1000 * (time.process_time() - cpu) / MESSAGES
                wait_until(lambda: queue.llen("celery") == 0, 120, 0.05)
                time.sleep(1.0)  # the last messages taken are still running
                elapsed = time.monotonic() - started
                worker_ms = 1000 * (cluster.cpu_seconds() - before - idle_rate * elapsed) / MESSAGES
    print(f"idle: the two workers and the beat use {1000 * idle_rate:.1f} ms of CPU per second "
          f"({IDLE_SECONDS:g} s measured)")
    print(f"per task message carrying no job: {publish_ms:.2f} ms to publish, {worker_ms:.2f} ms for a worker to "
          f"take and run it ({MESSAGES} messages, idle rate subtracted)")
    emit({"bench": "celery", "idle_ms_per_second": round(1000 * idle_rate, 1),
          "publish_ms_per_message": round(publish_ms, 3), "worker_ms_per_message": round(worker_ms, 3)})


if __name__ == "__main__":
    main()
