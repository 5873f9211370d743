"""Benchmark 4, overhead: 2,000 instant jobs with no limits; nanobatch's own CPU per job.

CPU is user + system time of the two worker process trees (the first also runs the beat; its
children included), read from ``/proc`` right after a one-job warm-up and again when the batch is
done, so start-up is not counted; the simulator's CPU is not counted either. Also prints jobs per
second end to end (from storing the batch to every file verified on disk). Target (issue 23): at
most 1.5x the CPU per job of the required work alone, measured in the same run (below).
Outputs are 1K JPEGs, each downloaded, decoded and hashed. Two baselines, in the
same run: the HTTP calls of a job alone, made with a bare ``requests.Session`` (``http_floor``),
and the work the design requires of every job done alone in one thread, on the same database and
Redis (``baseline_floor.mandated_floor``: limiter grants, API calls, download checks, 3 commits).

Usage: ``.venv/bin/python bench/bench_overhead.py [--jobs 2000] [--quick] [--pg]``
"""

from __future__ import annotations

import hashlib
import tempfile
import time
from pathlib import Path

import requests
from baseline_floor import mandated_floor
from baseline_vendor import SUBMIT_PATH, body
from common import (
    cluster_env,
    database,
    emit,
    fresh_redis,
    run_to_end,
    running_cluster,
    size_args,
    states,
    submit,
    verdict,
    warm_up,
    write_manifest,
)

from batch.simulator import SimulatorHandle, spawn_simulator
from batch.store import db
from batch.testing.cluster import wait_until

FLOOR_RATIO = 1.5  # the target: CPU per job at most this many times the required work's, same run
FLOOR_JOBS = 300


def http_floor(sim: SimulatorHandle, jobs: int) -> float:
    """CPU ms per job of only the HTTP calls a job needs, made with a plain ``requests.Session``.

    Submit every job; wait (not counted) until the simulator has finished them all; then read
    each result once and download each output (hashed, not kept): 3 calls per job.
    """
    base_url, http = sim.base_url, requests.Session()
    headers = {"Authorization": "Bearer bench"}
    done_before = sim.stats()["jobs_by_state"].get("succeeded", 0)
    started = time.process_time()
    ids = [http.post(f"{base_url}{SUBMIT_PATH}", json=body(base_url, n), headers=headers, timeout=30)
           .json()["request_id"] for n in range(jobs)]
    cpu = time.process_time() - started
    wait_until(lambda: sim.stats()["jobs_by_state"].get("succeeded", 0) >= done_before + jobs, 120, 0.2)
    started = time.process_time()
    for request_id in ids:
        result = http.get(f"{base_url}/v1/requests/{request_id}/result", headers=headers, timeout=30).json()
        with http.get(result["output"]["images"][0], stream=True, timeout=30) as response:
            digest = hashlib.sha256()
            for chunk in response.iter_content(256 * 1024):
                digest.update(chunk)
    cpu += time.process_time() - started
    return 1000 * cpu / jobs


def main() -> None:
    """Run the batch and print CPU per job and throughput."""
    jobs, pg = size_args(__doc__, default_jobs=2000, quick_jobs=500)
    with tempfile.TemporaryDirectory(prefix="nb-bench-overhead-") as tmp:
        folder = Path(tmp)
        with spawn_simulator(["--latency", "0", "--workers", "64"]) as sim, database(folder, pg) as db_url:
            redis_url = fresh_redis()
            env = cluster_env(folder / "home", db_url, redis_url, sim.base_url,
                              NANOBATCH_REQUESTS_PER_SECOND="100000", NANOBATCH_MAX_IN_FLIGHT=str(jobs))
            with running_cluster(env, folder / "home", workers=2) as cluster:
                warm_up(db_url, folder, sim.base_url, cluster)
                before = cluster.cpu_seconds()
                batch_id, count = submit(db_url, write_manifest(folder / "batch", sim.base_url, jobs))
                elapsed = run_to_end(db_url, batch_id, count, 900, cluster)
                cpu = cluster.cpu_seconds() - before
            final = states(db_url, batch_id)
            stats = sim.stats()
            floor_ms = http_floor(sim, FLOOR_JOBS)
            mandated_ms = mandated_floor(sim, db.get_engine(db_url), redis_url, folder / "floor", FLOOR_JOBS,
                                         body(sim.base_url, 0))
    calls = sum(stats[k] for k in ("submit_calls", "status_calls", "result_calls")) / (count + 1)
    per_job_ms = 1000 * cpu / count
    ratio = per_job_ms / mandated_ms
    ok = ratio <= FLOOR_RATIO and final.get("succeeded", 0) == count
    print(f"{count} jobs, latency 0, no limits: {elapsed:.1f} s end to end ({count / elapsed:.0f} jobs/s); "
          f"workers' CPU {cpu:.1f} s = {per_job_ms:.1f} ms per job against {mandated_ms:.2f} ms for the required "
          f"work alone: {ratio:.2f}x (target <= {FLOOR_RATIO:g}x)  [{verdict(ok)}]")
    print(f"states {final}; {calls:.2f} API calls per job (warm-up job included)")
    print(f"baseline, same run: the HTTP calls alone (3 per job: submit, one result read, the "
          f"download) with a bare requests.Session in one thread, no database, no queue: {floor_ms:.2f} ms CPU "
          f"per job; nanobatch spends {per_job_ms / floor_ms:.1f}x that")
    print(f"baseline, same run: the work the design requires of each job (2 limiter grants, submit, one "
          f"result read, download with hash + decode + fsync, 3 commits) alone in one thread, same database "
          f"and Redis, no task messages, no tick: {mandated_ms:.2f} ms CPU per job; nanobatch spends "
          f"{ratio:.2f}x that")
    emit({"bench": "overhead", "jobs": count, "seconds": round(elapsed, 2),
          "jobs_per_second": round(count / elapsed, 1), "cpu_seconds": round(cpu, 2),
          "cpu_ms_per_job": round(per_job_ms, 2), "calls_per_job": round(calls, 2),
          "http_floor_ms_per_job": round(floor_ms, 2), "mandated_floor_ms_per_job": round(mandated_ms, 2),
          "floor_ratio": round(ratio, 2),
          "states": final, "met": ok})


if __name__ == "__main__":
    main()
