"""Benchmark 1, rate held: two worker processes against a simulator limited to 20 requests/s.

Told 20/s: no 1-second window of the simulator's journal may hold more than 20 /v1 calls
(sliding windows over the journal timestamps), and no call may be answered 429.
Told 40/s against the same limit: every job must still succeed, and the 429s must stop after
the first seconds (the shared pause and the AIMD cap); prints when the last 429 came.

Usage: ``.venv/bin/python bench/bench_rate.py [--jobs 300] [--quick] [--pg]``
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

from common import (
    cluster_env,
    database,
    emit,
    fresh_redis,
    max_in_window,
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

from batch.simulator import spawn_simulator

LIMIT = 20.0


def one_run(folder: Path, told: float, jobs: int, pg: bool) -> dict[str, Any]:
    """A batch with nanobatch told ``told`` requests/s against the simulator's 20/s."""
    journal = folder / "journal.jsonl"
    sim_args = ["--rate-limit", str(LIMIT), "--latency", "1-3", "--workers", "1000", "--journal", str(journal)]
    with spawn_simulator(sim_args) as sim, database(folder, pg) as db_url:
        env = cluster_env(folder / "home", db_url, fresh_redis(), sim.base_url,
                          NANOBATCH_REQUESTS_PER_SECOND=str(told), NANOBATCH_MAX_IN_FLIGHT="200")
        with running_cluster(env, folder / "home", workers=2) as cluster:
            warm_up(db_url, folder, sim.base_url, cluster)
            batch_id, count = submit(db_url, write_manifest(folder / "batch", sim.base_url, jobs))
            started = time.time()
            elapsed = run_to_end(db_url, batch_id, count, 600, cluster)
        entries = read_journal(journal)
        final = states(db_url, batch_id)
    times = [e["t"] for e in entries]
    worst, at = max_in_window(times)
    limited = [e["t"] for e in entries if e["status"] == 429]
    return {
        "told": told, "jobs": count, "seconds": round(elapsed, 1), "calls": len(entries),
        "calls_per_job": round(len(entries) / count, 2), "max_calls_in_1s": worst,
        "max_window_at": round(at - started, 1), "http_429": len(limited),
        "last_429_after": round(max(limited) - started, 1) if limited else None,
        "succeeded": final.get("succeeded", 0), "states": final,
    }


def main() -> None:
    """Run both cases and print the figures."""
    jobs, pg = size_args(__doc__, default_jobs=300, quick_jobs=100)
    with tempfile.TemporaryDirectory(prefix="nb-bench-rate-") as tmp:
        held = one_run(Path(tmp) / "told20", LIMIT, jobs, pg)
        over = one_run(Path(tmp) / "told40", 2 * LIMIT, jobs, pg)
    ok_held = held["max_calls_in_1s"] <= LIMIT and held["http_429"] == 0 and held["succeeded"] == held["jobs"]
    ok_over = over["succeeded"] == over["jobs"] and (over["last_429_after"] or 0) <= 15
    print(f"told 20/s vs limit 20/s: {held['jobs']} jobs in {held['seconds']} s, {held['calls']} calls "
          f"({held['calls_per_job']}/job); busiest 1-s window {held['max_calls_in_1s']} calls "
          f"(ratio {held['max_calls_in_1s'] / LIMIT:.2f} of 20); 429s: {held['http_429']}  [{verdict(ok_held)}]")
    print(f"told 40/s vs limit 20/s: {over['succeeded']}/{over['jobs']} succeeded in {over['seconds']} s; "
          f"429s: {over['http_429']}, the last {over['last_429_after']} s after the start; busiest 1-s window "
          f"{over['max_calls_in_1s']}  [{verdict(ok_over)}]")
    emit({"bench": "rate", "held": held, "over": over, "met": ok_held and ok_over})


if __name__ == "__main__":
    main()
