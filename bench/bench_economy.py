"""Benchmark 3, call economy: 300 jobs of 5-30 s (uniform), nanobatch against a vendor-style client.

Figures for each: API calls per job (the simulator's journal), and the lag between upstream
completion (``/_sim/jobs`` finished_at) and the first successful ``/result`` read of that
request after it (journal). Targets for nanobatch: <= 5 calls per job on average, median lag
<= 3 s, 95th percentile <= 8 s. The baseline (``baseline_vendor.py``: a thread per job, fixed
2 s polling of /status, then /result) runs the same number of jobs against its own simulator.

nanobatch runs with two worker processes, all calls limited to 50/s, up to 300 jobs in flight.

Usage: ``.venv/bin/python bench/bench_economy.py [--jobs 300] [--quick] [--pg]``
"""

from __future__ import annotations

import statistics
import tempfile
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
    write_manifest,
)

from batch.simulator import spawn_simulator

SIM_ARGS = ["--latency", "5-30", "--workers", "1000"]


def lags(entries: list[dict[str, Any]], finished: dict[str, float]) -> list[float]:
    """Per request: seconds from upstream completion to the first 200 /result read at or after it."""
    first: dict[str, float] = {}
    for e in sorted(entries, key=lambda e: e["t"]):
        rid = e.get("request_id")
        if (rid in finished and rid not in first and e["path"].endswith("/result") and e["status"] == 200
                and e["t"] >= finished[rid]):
            first[rid] = e["t"]
    return [first[rid] - finished[rid] for rid in first]


def figures(entries: list[dict[str, Any]], sim_jobs: list[dict[str, Any]], jobs: int) -> dict[str, Any]:
    """Calls per job and the lag distribution."""
    finished = {j["request_id"]: j["finished_at"] for j in sim_jobs if j.get("finished_at")}
    found = lags(entries, finished)
    return {"jobs": jobs, "calls": len(entries), "calls_per_job": round(len(entries) / jobs, 2),
            "lag_median": round(statistics.median(found), 2) if found else None,
            "lag_p95": round(percentile(found, 0.95), 2) if found else None, "lag_count": len(found),
            "status_calls": sum(1 for e in entries if e["path"].endswith("/status")),
            "result_calls": sum(1 for e in entries if e["path"].endswith("/result"))}


def run_nanobatch(folder: Path, jobs: int, pg: bool) -> dict[str, Any]:
    """The batch through two worker processes; its figures."""
    journal = folder / "journal.jsonl"
    with spawn_simulator([*SIM_ARGS, "--journal", str(journal)]) as sim, database(folder, pg) as db_url:
        env = cluster_env(folder / "home", db_url, fresh_redis(), sim.base_url,
                          NANOBATCH_REQUESTS_PER_SECOND="50", NANOBATCH_MAX_IN_FLIGHT=str(jobs))
        with running_cluster(env, folder / "home", workers=2) as cluster:
            batch_id, count = submit(db_url, write_manifest(folder / "batch", sim.base_url, jobs))
            elapsed = run_to_end(db_url, batch_id, count, 900, cluster)
        result = figures(read_journal(journal), sim.jobs(), count)
        result.update(seconds=round(elapsed, 1), states=states(db_url, batch_id))
    return result


def run_baseline(folder: Path, jobs: int) -> dict[str, Any]:
    """The vendor-style client on its own simulator; its figures."""
    journal = folder / "vendor-journal.jsonl"
    with spawn_simulator([*SIM_ARGS, "--journal", str(journal)]) as sim:
        run = run_vendor(sim.base_url, jobs)
        result = figures(read_journal(journal), sim.jobs(), jobs)
    result.update(seconds=round(run.seconds, 1))
    return result


def main() -> None:
    """Run both and print them side by side."""
    jobs, pg = size_args(__doc__, default_jobs=300, quick_jobs=100)
    with tempfile.TemporaryDirectory(prefix="nb-bench-economy-") as tmp:
        ours = run_nanobatch(Path(tmp), jobs, pg)
        vendor = run_baseline(Path(tmp), jobs)
    ok = (ours["calls_per_job"] <= 5 and (ours["lag_median"] or 99) <= 3 and (ours["lag_p95"] or 99) <= 8
          and ours["states"].get("succeeded", 0) == jobs)
    for name, r in (("nanobatch", ours), ("vendor   ", vendor)):
        print(f"{name}: {r['calls_per_job']:.2f} calls/job ({r['calls']} calls: {r['status_calls']} status, "
              f"{r['result_calls']} result), lag median {r['lag_median']} s, p95 {r['lag_p95']} s, "
              f"wall {r['seconds']} s")
    print(f"nanobatch makes {ours['calls_per_job'] / vendor['calls_per_job']:.2f}x the vendor client's calls; "
          f"targets <= 5 calls/job, median lag <= 3 s, p95 <= 8 s  [{verdict(ok)}]")
    emit({"bench": "economy", "nanobatch": ours, "vendor": vendor, "met": ok})


if __name__ == "__main__":
    main()
