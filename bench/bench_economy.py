"""Benchmark 3, call economy: jobs of 5-30 s (uniform), nanobatch against a naive client at the same concurrency.

The naive client (``baseline_vendor.py``) runs one thread per job, every job in flight at once,
polls ``/status`` every 2 s, then reads ``/result`` and downloads the file to disk. nanobatch
runs the same jobs, every one in flight at once too (``NANOBATCH_MAX_IN_FLIGHT`` = jobs), with
two worker processes, all calls limited to 50/s. Each has its own simulator with the same
settings.

Figures for each: wall time (nanobatch: from storing the batch, its workers already up after a
one-job warm-up, to the last job's files verified on disk; naive: from its first submit to its
last file on disk), API calls per job (the simulator's journal), and the lag from upstream
completion (``/_sim/jobs`` finished_at) to the job's file on disk (nanobatch: the job's
``finished_at``, written in the transaction that records its verified files; naive: the
rename). Targets for nanobatch: wall within 1.05x the naive client's, at most 4 calls a job, a
median lag of at most 2 s (issue 23).

Usage: ``.venv/bin/python bench/bench_economy.py [--jobs 100] [--quick] [--pg]``
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from baseline_vendor import run_vendor
from common import (
    cluster_env,
    database,
    emit,
    fresh_redis,
    percentile,
    read_journal,
    run_to_end,
    running_cluster,
    size_args,
    states,
    submit,
    verdict,
    warm_up,
    write_manifest,
)
from sqlalchemy import select

from batch.simulator import spawn_simulator
from batch.store import db
from batch.store.models import Job

SIM_ARGS = ["--latency", "5-30", "--workers", "1000"]
WALL_RATIO, CALLS_PER_JOB, LAG_MEDIAN = 1.05, 4.0, 2.0


def figures(entries: list[dict[str, Any]], sim_jobs: list[dict[str, Any]], saved_at: dict[str, float],
            since: float) -> dict[str, Any]:
    """Calls per job and the lag from upstream completion to the file on disk, for the requests
    submitted at or after ``since`` (a warm-up before it is left out)."""
    finished = {j["request_id"]: j["finished_at"] for j in sim_jobs
                if j.get("finished_at") and (j.get("submitted_at") or 0) >= since}
    calls = [e for e in entries if e["t"] >= since]
    found = sorted(saved_at[rid] - finished[rid] for rid in finished if rid in saved_at)
    jobs = len(finished)
    return {"jobs": jobs, "calls": len(calls), "calls_per_job": round(len(calls) / max(1, jobs), 2),
            "lag_median": round(statistics.median(found), 2) if found else None,
            "lag_p95": round(percentile(found, 0.95), 2) if found else None, "lag_count": len(found),
            "status_calls": sum(1 for e in calls if e["path"].endswith("/status")),
            "result_calls": sum(1 for e in calls if e["path"].endswith("/result"))}


def files_on_disk(db_url: str, batch_id: int) -> dict[str, float]:
    """Request id -> when the job's verified files were recorded (its ``finished_at``)."""
    with db.session_factory(db_url)() as session:
        rows = session.execute(select(Job.request_id, Job.finished_at).where(
            Job.batch_id == batch_id, Job.state == "succeeded")).all()
    return {rid: at for rid, at in rows if rid and at}


def run_nanobatch(folder: Path, jobs: int, pg: bool) -> dict[str, Any]:
    """The batch through two worker processes (warmed up first); its figures."""
    journal = folder / "journal.jsonl"
    with spawn_simulator([*SIM_ARGS, "--journal", str(journal)]) as sim, database(folder, pg) as db_url:
        env = cluster_env(folder / "home", db_url, fresh_redis(), sim.base_url,
                          NANOBATCH_REQUESTS_PER_SECOND="50", NANOBATCH_MAX_IN_FLIGHT=str(jobs))
        with running_cluster(env, folder / "home", workers=2) as cluster:
            warm_up(db_url, folder, sim.base_url, cluster)
            since = time.time()
            batch_id, count = submit(db_url, write_manifest(folder / "batch", sim.base_url, jobs))
            elapsed = run_to_end(db_url, batch_id, count, 900, cluster)
        result = figures(read_journal(journal), sim.jobs(), files_on_disk(db_url, batch_id), since)
        result.update(seconds=round(elapsed, 1), states=states(db_url, batch_id))
    return result


def run_naive(folder: Path, jobs: int) -> dict[str, Any]:
    """The naive client, a thread per job, on its own simulator; its figures."""
    journal, out = folder / "naive-journal.jsonl", folder / "naive-out"
    out.mkdir()
    with spawn_simulator([*SIM_ARGS, "--journal", str(journal)]) as sim:
        since = time.time()
        run = run_vendor(sim.base_url, jobs, threads=jobs, out=out)
        result = figures(read_journal(journal), sim.jobs(), run.saved_at, since)
    result.update(seconds=round(run.seconds, 1))
    return result


def main() -> None:
    """Run both and print them side by side, with the ratio of their wall times."""
    jobs, pg = size_args(__doc__, default_jobs=100, quick_jobs=100)
    with tempfile.TemporaryDirectory(prefix="nb-bench-economy-") as tmp:
        ours = run_nanobatch(Path(tmp), jobs, pg)
        naive = run_naive(Path(tmp), jobs)
    ratio = ours["seconds"] / naive["seconds"]
    ok = (ratio <= WALL_RATIO and ours["calls_per_job"] <= CALLS_PER_JOB
          and (ours["lag_median"] or 99) <= LAG_MEDIAN and ours["states"].get("succeeded", 0) == jobs)
    for name, r in (("nanobatch", ours), ("naive    ", naive)):
        print(f"{name}: wall {r['seconds']} s, {r['calls_per_job']:.2f} calls/job ({r['calls']} calls: "
              f"{r['status_calls']} status, {r['result_calls']} result), lag to file on disk p50 "
              f"{r['lag_median']} s, p95 {r['lag_p95']} s")
    print(f"{jobs} jobs, all in flight in both: nanobatch's wall is {ratio:.2f}x the naive client's "
          f"(target <= {WALL_RATIO}x), {ours['calls_per_job']:.2f} calls/job (target <= {CALLS_PER_JOB:g}; "
          f"{ours['calls_per_job'] / naive['calls_per_job']:.2f}x the naive client's), lag p50 "
          f"{ours['lag_median']} s (target <= {LAG_MEDIAN:g} s), p95 {ours['lag_p95']} s  [{verdict(ok)}]")
    emit({"bench": "economy", "nanobatch": ours, "vendor": naive, "wall_ratio": round(ratio, 3), "met": ok})


if __name__ == "__main__":
    main()
