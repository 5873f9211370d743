"""Run every benchmark in turn (each a subprocess with a deadline) and print a summary table.

Usage: ``.venv/bin/python bench/run_all.py [--quick] [--pg] [--only rate,walltime,...]``
(``make bench`` runs it). Each benchmark prints its own figures; the table collects the headline
ones with the target and MET / NOT MET. Exit status 0 whatever the figures (they are reported,
not asserted), 1 if a benchmark crashed or overran.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
BENCHES = ["rate", "walltime", "economy", "overhead", "ingest", "rerun", "history", "small", "broker_loss"]
DEADLINE = {"rate": 900, "walltime": 600, "economy": 900, "overhead": 900, "ingest": 600, "rerun": 1500,
            "history": 1800, "small": 600, "broker_loss": 600}
NO_PG = ("ingest", "broker_loss")  # benchmarks of the embedded defaults only


def _rate(r: dict[str, Any]) -> list[tuple[str, str, str]]:
    held, over = r["held"], r["over"]
    return [("rate held, told 20/s", f"busiest 1-s window {held['max_calls_in_1s']}, {held['http_429']} x 429",
             "<= 20, 0 x 429"),
            ("rate told 40/s vs 20/s", f"{over['succeeded']}/{over['jobs']} ok, last 429 at "
             f"{over['last_429_after']} s ({over['http_429']} in all)", "all ok, 429s stop early")]


def _walltime(r: dict[str, Any]) -> list[tuple[str, str, str]]:
    return [(f"wall time, {r['jobs']} jobs", f"{r['seconds']} s = {r['ratio']}x bound {r['bound']} s", "<= 1.10x")]


def _economy(r: dict[str, Any]) -> list[tuple[str, str, str]]:
    ours, vendor = r["nanobatch"], r["vendor"]
    return [("wall vs naive client", f"{ours['seconds']} s = {r['wall_ratio']}x ({vendor['seconds']} s)", "<= 1.05x"),
            ("calls per job", f"{ours['calls_per_job']} (naive {vendor['calls_per_job']})", "<= 4"),
            ("lag to file on disk p50 / p95", f"{ours['lag_median']} / {ours['lag_p95']} s "
             f"(naive {vendor['lag_median']} / {vendor['lag_p95']})", "p50 <= 2 s")]


def _overhead(r: dict[str, Any]) -> list[tuple[str, str, str]]:
    return [(f"CPU per job, {r['jobs']} jobs", f"{r['cpu_ms_per_job']} ms = {r['floor_ratio']}x the work required "
             f"of a job, alone ({r['mandated_floor_ms_per_job']} ms); {r['jobs_per_second']} jobs/s", "<= 1.5x")]


def _ingest(r: dict[str, Any]) -> list[tuple[str, str, str, bool]]:
    rows = []
    for x in r["results"]:
        target = "10" if x["backend"] == "sqlite" else "15"
        rows.append((f"ingest {x['jobs']} ({x['backend']})", f"{x['seconds']} s, {x['peak_mb']} MB, status "
                     f"{x['status_seconds']} s (query {x['status_query_seconds']} s, "
                     f"imports alone {x['import_floor_seconds']} s)",
                     f"<= {target} s, 400 MB, 0.5 s", x["met"]))  # a verdict per database
    return rows


def _rerun(r: dict[str, Any]) -> list[tuple[str, str, str]]:
    return [(f"rerun of {r['jobs']} finished jobs ({r['backend']})", f"{r['jobs_per_second']:,} jobs skipped/s at "
             f"submit (dry run: {r['dry_run_jobs_per_second']:,} jobs/s)", ">= 2,000/s on SQLite")]


def _history(r: dict[str, Any]) -> list[tuple[str, str, str]]:
    x = r["ratios"]
    return [(f"new {r['jobs']} jobs on {r['history']:,} finished ({r['backend']})",
             f"tick CPU {x['claim_tick_cpu_ms_per_job']:.2f}x, status {x['status_ms']:.2f}x, "
             f"report {x['report_ms']:.2f}x", "each <= 1.2x")]


def _small(r: dict[str, Any]) -> list[tuple[str, str, str, bool]]:
    return [("one-job run, wall", f"{r['one_job_seconds']} s (plain requests script {r['plain_seconds']} s)",
             "<= 1.5 s", r["one_job_met"]),
            (f"cached rerun of {r['jobs']} jobs", f"{r['cached_run_seconds']} s (submit --dry-run "
             f"{r['dry_run_seconds']} s)", "<= dry run + 1 s", r["cached_met"])]


def _broker_loss(r: dict[str, Any]) -> list[tuple[str, str, str]]:
    return [("work after a lost broker's return", f"{r['median_resumed']} s after the kill (lease {r['lease']:g} s; "
             f"batch ended {r['median_end']} s after)", "<= 5 s")]


ROWS: dict[str, Callable[[dict[str, Any]], Sequence[tuple[Any, ...]]]] = {  # (what, got, target[, met])
    "rate": _rate, "walltime": _walltime, "economy": _economy, "overhead": _overhead, "ingest": _ingest,
    "rerun": _rerun, "history": _history, "small": _small, "broker_loss": _broker_loss,
}


def run_one(name: str, extra: list[str]) -> tuple[dict[str, Any] | None, float, str]:
    """Run ``bench_<name>.py``; its RESULT document (None if none), seconds, and output tail."""
    started = time.monotonic()
    try:
        done = subprocess.run([sys.executable, str(HERE / f"bench_{name}.py"), *extra], capture_output=True,
                              text=True, timeout=DEADLINE[name], check=False)
    except subprocess.TimeoutExpired:
        return None, time.monotonic() - started, f"overran its {DEADLINE[name]} s deadline"
    result = None
    for line in done.stdout.splitlines():
        if line.startswith("RESULT "):
            result = json.loads(line[len("RESULT "):])
        else:
            print(f"  {line}", flush=True)
    return result, time.monotonic() - started, done.stderr[-1500:]


def main() -> None:
    """Run them all and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes")
    parser.add_argument("--pg", action="store_true", help="PostgreSQL for the worker benchmarks")
    parser.add_argument("--only", default=",".join(BENCHES), help="comma-separated subset")
    args = parser.parse_args()
    table: list[tuple[str, str, str, str]] = []
    crashed = False
    for name in args.only.split(","):
        pg = args.pg and name not in NO_PG
        extra = (["--quick"] if args.quick else []) + (["--pg"] if pg else [])
        print(f"== {name} {' '.join(extra)}", flush=True)
        result, seconds, err = run_one(name, extra)
        if result is None:
            crashed = True
            print(f"  FAILED after {seconds:.0f} s: {err}", flush=True)
            table.append((name, "no result", "-", "FAILED"))
            continue
        for what, got, target, *own in ROWS[name](result):
            met = own[0] if own else result["met"]
            table.append((what, got, target, "MET" if met else "NOT MET"))
    widths = [max(len(row[i]) for row in [("benchmark", "measured", "target", "verdict"), *table]) for i in range(4)]
    print()
    for row in [("benchmark", "measured", "target", "verdict"), *table]:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)))
    sys.exit(1 if crashed else 0)


if __name__ == "__main__":
    main()
