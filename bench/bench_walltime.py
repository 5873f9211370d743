"""Benchmark 2, wall time near the bound: 600 jobs of 2-4 s with submits limited to 20/s.

Upstream has ample workers (``--workers 600``), so the bound is set by the submit limit: the
last job cannot be submitted before 600 / 20 s, and then takes a mean latency (3 s). Target:
wall time (from storing the batch to every job verified on disk) within 1.10x of that bound.
Two worker processes, all calls limited to 100/s, up to 600 jobs in flight.

Usage: ``.venv/bin/python bench/bench_walltime.py [--jobs 600] [--quick] [--pg]``
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from common import (
    cluster_env,
    database,
    emit,
    fresh_redis,
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

SUBMITS_PER_SECOND = 20.0
LATENCY = (2.0, 4.0)
TARGET = 1.10


def main() -> None:
    """Run the batch and print its wall time against the bound."""
    jobs, pg = size_args(__doc__, default_jobs=600, quick_jobs=200)
    with tempfile.TemporaryDirectory(prefix="nb-bench-wall-") as tmp:
        folder = Path(tmp)
        journal = folder / "journal.jsonl"
        sim_args = ["--latency", f"{LATENCY[0]:g}-{LATENCY[1]:g}", "--workers", str(jobs), "--journal", str(journal)]
        with spawn_simulator(sim_args) as sim, database(folder, pg) as db_url:
            env = cluster_env(folder / "home", db_url, fresh_redis(), sim.base_url,
                              NANOBATCH_SUBMITS_PER_SECOND=str(SUBMITS_PER_SECOND),
                              NANOBATCH_REQUESTS_PER_SECOND="100", NANOBATCH_MAX_IN_FLIGHT=str(jobs))
            with running_cluster(env, folder / "home", workers=2) as cluster:
                warm_up(db_url, folder, sim.base_url, cluster)
                batch_id, count = submit(db_url, write_manifest(folder / "batch", sim.base_url, jobs))
                elapsed = run_to_end(db_url, batch_id, count, 600, cluster)
            final = states(db_url, batch_id)
            calls = len(read_journal(journal))
    bound = count / SUBMITS_PER_SECOND + sum(LATENCY) / 2
    ratio = elapsed / bound
    ok = ratio <= TARGET and final.get("succeeded", 0) == count
    print(f"{count} jobs, latency {LATENCY[0]:g}-{LATENCY[1]:g} s, submits {SUBMITS_PER_SECOND:g}/s: "
          f"wall time {elapsed:.1f} s, bound {bound:.1f} s, ratio {ratio:.3f} (target <= {TARGET})  [{verdict(ok)}]")
    print(f"states {final}; {calls} API calls ({calls / count:.2f} per job)")
    emit({"bench": "walltime", "jobs": count, "seconds": round(elapsed, 2), "bound": bound,
          "ratio": round(ratio, 3), "states": final, "calls_per_job": round(calls / count, 2), "met": ok})


if __name__ == "__main__":
    main()
