"""Rerun of a finished manifest: how fast the cache finishes its jobs at submit, beside the dry run.

A manifest of ``--jobs`` (default 5,000) jobs runs once against the simulator (a subprocess,
latency 0), driven by the in-process ``drain``. Then, in this process: ``submit --dry-run``'s
classification of the same manifest (``batch.commands.plan.plan``), and the rerun's submit
(``create_batch`` then ``batch.commands.cached.finish_cached``, as ``nanobatch submit`` does),
which must leave every job ``cached`` with no tick. Printed: jobs skipped per second by the
submit (target >= 2,000/s on SQLite) and jobs classified per second by the dry run. With
``--step-sample N`` (default 200) it also times N jobs skipped the old way, one tick and worker
step each (``create_batch`` then ``drain``), for comparison.

Usage: ``.venv/bin/python bench/bench_rerun.py [--jobs 5000] [--quick] [--pg] [--step-sample 200]``
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from common import database, emit, states, verdict, write_manifest

from batch.commands.batches import create_batch
from batch.commands.cached import finish_cached
from batch.commands.plan import plan
from batch.config import Settings
from batch.core.cost import PriceTable
from batch.engine.runtime import Runtime, build_runtime
from batch.engine.tick import drain
from batch.manifest import Manifest, load_manifest
from batch.simulator import spawn_simulator
from batch.store.batches import get_batch

TARGET = 2000.0  # jobs skipped per second, SQLite


def runtime(home: Path, db_url: str, api_base: str) -> Runtime:
    """An in-process runtime with room enough that the first run is quick (no Redis: NullLimiter)."""
    return build_runtime(Settings(home=home, api_base=api_base, token="bench", database_url=db_url,
                                  requests_per_second=2000.0, max_in_flight=500, lease_seconds=30.0),
                         redis_url=None)


def rerun_submit(rt: Runtime, manifest: Manifest) -> tuple[int, int, float]:
    """The rerun as ``nanobatch submit`` stores it; (batch id, jobs cached, seconds)."""
    started = time.perf_counter()
    batch_id = create_batch(rt.sessions, manifest, now=time.time())
    batch = get_batch(rt.sessions, batch_id)
    assert batch is not None
    cached = finish_cached(rt.sessions, batch_id, batch.output_dir)
    return batch_id, cached, time.perf_counter() - started


def step_path(rt: Runtime, folder: Path, api_base: str, jobs: int) -> float:
    """Jobs per second skipped one tick and step at a time (a fresh manifest run once, then again)."""
    manifest = load_manifest(write_manifest(folder, api_base, jobs, name="steps", fmt="jpeg"))
    drain(rt, create_batch(rt.sessions, manifest, now=time.time()), timeout=600)
    started = time.perf_counter()
    again = create_batch(rt.sessions, manifest, now=time.time())
    drain(rt, again, timeout=600)
    elapsed = time.perf_counter() - started
    assert states(rt.settings.db_url, again) == {"cached": jobs}, states(rt.settings.db_url, again)
    return jobs / elapsed


def main() -> None:
    """Run once, then rerun; print the rates."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--jobs", type=int, default=5000)
    parser.add_argument("--quick", action="store_true", help="500 jobs")
    parser.add_argument("--pg", action="store_true", help="PostgreSQL instead of SQLite")
    parser.add_argument("--step-sample", type=int, default=200, help="jobs skipped the old way (0: none)")
    args = parser.parse_args()
    jobs = 500 if args.quick else args.jobs
    with tempfile.TemporaryDirectory(prefix="nb-bench-rerun-") as tmp:
        folder = Path(tmp)
        with spawn_simulator(["--latency", "0", "--workers", "16"]) as sim, database(folder, args.pg) as db_url:
            rt = runtime(folder / "home", db_url, sim.base_url)
            manifest = load_manifest(write_manifest(folder / "m", sim.base_url, jobs, name="rerun", fmt="jpeg"))
            started = time.perf_counter()
            first = create_batch(rt.sessions, manifest, now=time.time())
            drain(rt, first, timeout=3600)
            first_seconds = time.perf_counter() - started
            assert states(db_url, first) == {"succeeded": jobs}, states(db_url, first)
            started = time.perf_counter()
            dry = plan(manifest, PriceTable(), rt.sessions)
            dry_seconds = time.perf_counter() - started
            batch_id, cached, seconds = rerun_submit(rt, manifest)
            after = states(db_url, batch_id)
            old_rate = step_path(rt, folder / "steps", sim.base_url, args.step_sample) if args.step_sample else None
    backend = "postgresql" if args.pg else "sqlite"
    rate, dry_rate = cached / seconds, dry.total / dry_seconds
    met = after == {"cached": jobs} and dry.cached == jobs and (args.pg or rate >= TARGET)
    print(f"{backend}: first run of {jobs} jobs took {first_seconds:.1f} s (in-process drain, simulator latency 0)")
    print(f"rerun: {cached} of {jobs} jobs cached at submit in {seconds:.2f} s = {rate:,.0f} jobs skipped/s "
          f"(target >= {TARGET:,.0f}/s on SQLite; batch after submit, no tick: {after})  [{verdict(met)}]")
    print(f"dry run, same manifest, same process: {dry.total} jobs classified ({dry.cached} cached) in "
          f"{dry_seconds:.2f} s = {dry_rate:,.0f} jobs/s")
    if old_rate is not None:
        print(f"the step path (one tick and worker step per job, in-process drain), {args.step_sample} jobs: "
              f"{old_rate:,.1f} jobs skipped/s")
    emit({"bench": "rerun", "backend": backend, "jobs": jobs, "cached": cached, "seconds": round(seconds, 3),
          "jobs_per_second": round(rate), "dry_run_jobs_per_second": round(dry_rate),
          "step_path_jobs_per_second": None if old_rate is None else round(old_rate, 1), "met": met})


if __name__ == "__main__":
    main()
