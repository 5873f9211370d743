"""History grows: a new batch on a database holding a year of finished jobs, against an empty one.

For each database (an empty one, then one seeded by ``history_seed.py`` with ``--history``
finished jobs, default 1,000,000, in nightly batches of 10,000, with their output and event
rows, by bulk INSERTs), a new ``--jobs`` (default 1,000) job batch runs against the simulator (a
subprocess, latency 0) driven by the in-process ``drain``. Then, both databases open, taking
turns: the CPU of a tick per job it claims, at a fixed state (``ClaimTicks``: another batch of
``--jobs`` pending jobs, median of ``TICKS``), and the time of ``status BATCH``'s read
(``batch_status``) and of the report (``write_report`` as JSON), medians of ``RUNS``. Printed:
each with history over the same without it; the target is <= 1.2x each. Also printed, without
a target: the tick CPU over the drain (per job, and per idle tick; they depend on the
simulator's timing), and the recent-batch list (``status`` with no batch), which counts the jobs
of the 20 newest batches, so grows with their size.

Usage: ``.venv/bin/python bench/bench_history.py [--history 1000000] [--jobs 1000] [--quick] [--pg]``
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import replace
from pathlib import Path
from typing import Any

from common import database, emit, states, verdict, write_manifest
from history_seed import seed

import batch.engine.tick as tick_module
from batch.commands.batches import create_batch
from batch.config import Settings
from batch.core.states import JobState
from batch.engine.runtime import Runtime, build_runtime
from batch.manifest import Manifest, load_manifest
from batch.reports.writer import write_report
from batch.simulator import spawn_simulator
from batch.store.queries import batch_status, list_batches

TARGET = 1.2
RUNS = 15
TICKS = 25
TARGETED = {"claim_tick_cpu_ms_per_job": "tick CPU per job claimed", "status_ms": "status BATCH",
            "report_ms": "report (JSON)"}
DRAIN = {"tick_cpu_ms_per_job": "tick CPU per job over the drain", "idle_tick_cpu_ms": "idle tick CPU, per tick"}
HOUR = 3600.0
S = JobState


def interleaved_medians(actions: dict[str, Callable[[], object]], runs: int = RUNS) -> dict[str, float]:
    """Median wall time of each action, the actions taking turns (so that the machine's other load
    falls on all of them alike), after one warm-up call each."""
    times: dict[str, list[float]] = {name: [] for name in actions}
    for run in range(runs + 1):
        for name, action in actions.items():
            started = time.perf_counter()
            action()
            if run:
                times[name].append(time.perf_counter() - started)
    return {name: statistics.median(spent) for name, spent in times.items()}


class TickMeter:
    """Wraps the tick that ``drain`` calls, adding up the CPU (this process's) it spends: apart for the
    ticks that handed jobs out (per job handed out) and the idle ones (per tick; how many depends on
    the simulator's timing, so they are kept out of the per-job figure)."""

    def __init__(self) -> None:
        self.busy_cpu = self.idle_cpu = 0.0
        self.handed = self.idle = 0
        self._tick = tick_module.tick

    def __call__(self, *args: Any, **kwargs: Any) -> int:
        started = time.process_time()
        count = self._tick(*args, **kwargs)
        spent = time.process_time() - started
        if count:
            self.busy_cpu += spent
            self.handed += count
        else:
            self.idle_cpu += spent
            self.idle += 1
        return count

class ClaimTicks:
    """Ticks at a fixed state: on a fresh batch of pending jobs, each tick's clock an hour past the last
    one's, so that the leases it left have expired and it claims the same jobs again (free of the
    simulator's timing). ``__call__`` runs one and returns its CPU (ms) per job claimed."""

    def __init__(self, rt: Runtime, manifest: Manifest) -> None:
        self.rt = rt
        create_batch(rt.sessions, manifest, now=time.time(), name="probe")
        self.at = time.time()

    def __call__(self) -> float:
        self.at += HOUR
        started = time.process_time()
        claimed = tick_module.tick(replace(self.rt, clock=lambda at=self.at: at), lambda _ids, _owner: None)
        return 1000 * (time.process_time() - started) / max(1, claimed)


def run_batch(stack: ExitStack, folder: Path, api_base: str, pg: bool, history: int,
              jobs: int) -> tuple[dict[str, Any], dict[str, Callable[[], object]], ClaimTicks]:
    """Seed (``history`` > 0) a database kept open on ``stack``, run a new batch; its figures and reads."""
    db_url = stack.enter_context(database(folder, pg))
    seeded = seed(db_url, history) if history else 0.0
    rt = build_runtime(Settings(home=folder / "home", api_base=api_base, token="bench", database_url=db_url,
                                requests_per_second=2000.0, max_in_flight=500, lease_seconds=30.0), redis_url=None)
    manifest = load_manifest(write_manifest(folder / "m", api_base, jobs, name=f"new-{history}", fmt="jpeg"))
    batch_id = create_batch(rt.sessions, manifest, now=time.time())
    meter = TickMeter()
    tick_module.tick = meter  # type: ignore[assignment]
    try:
        tick_module.drain(rt, batch_id, timeout=1800)
    finally:
        tick_module.tick = meter._tick
    assert states(db_url, batch_id) == {"succeeded": jobs}, states(db_url, batch_id)
    figures = {"history": history, "seed_seconds": round(seeded, 1),
               "tick_cpu_ms_per_job": 1000 * meter.busy_cpu / jobs,
               "idle_tick_cpu_ms": 1000 * meter.idle_cpu / meter.idle if meter.idle else float("nan"),
               "steps_handed": meter.handed, "idle_ticks": meter.idle}
    reads: dict[str, Callable[[], object]] = {
        "status_ms": lambda: batch_status(rt.sessions, batch_id),
        "report_ms": lambda: write_report(rt.sessions, batch_id, folder / "report.json", "json"),
        "list_ms": lambda: list_batches(rt.sessions),
    }
    return figures, reads, ClaimTicks(rt, manifest)


def measure(tmp: Path, api_base: str, pg: bool, history: int, jobs: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """Both databases (open together), their batches run one after the other, then their claiming ticks
    and their reads timed in turns."""
    with ExitStack() as stack:
        empty, empty_reads, empty_ticks = run_batch(stack, tmp / "empty", api_base, pg, 0, jobs)
        full, full_reads, full_ticks = run_batch(stack, tmp / "full", api_base, pg, history, jobs)
        spent: dict[str, list[float]] = {"empty": [], "full": []}
        for n in range(TICKS + 1):  # in turns; the first of each warms the caches
            for side, ticks in (("empty", empty_ticks), ("full", full_ticks)):
                cpu = ticks()
                if n:
                    spent[side].append(cpu)
        empty["claim_tick_cpu_ms_per_job"] = statistics.median(spent["empty"])
        full["claim_tick_cpu_ms_per_job"] = statistics.median(spent["full"])
        actions = {f"{side} {name}": action for side, reads in (("empty", empty_reads), ("full", full_reads))
                   for name, action in reads.items()}
        for key, seconds in interleaved_medians(actions).items():
            side, name = key.split()
            (empty if side == "empty" else full)[name] = 1000 * seconds
    return empty, full


def main() -> None:
    """Both databases, then the ratios."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--history", type=int, default=1_000_000)
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--quick", action="store_true", help="100,000 finished jobs, a 300-job batch")
    parser.add_argument("--pg", action="store_true", help="PostgreSQL instead of SQLite")
    args = parser.parse_args()
    history, jobs = (100_000, 300) if args.quick else (args.history, args.jobs)
    with tempfile.TemporaryDirectory(prefix="nb-bench-history-") as tmp, \
            spawn_simulator(["--latency", "0", "--workers", "16"]) as sim:
        empty, full = measure(Path(tmp), sim.base_url, args.pg, history, jobs)
    backend = "postgresql" if args.pg else "sqlite"
    ratios = {k: full[k] / empty[k] for k in (*TARGETED, *DRAIN)}  # NaN when a side had no idle tick
    met = all(ratios[k] <= TARGET for k in TARGETED)
    print(f"{backend}: {history:,} finished jobs seeded in {full['seed_seconds']} s; a new {jobs}-job batch:")
    for key, label in {**TARGETED, **DRAIN}.items():
        print(f"  {label:32}: {full[key]:8.3f} ms with history, {empty[key]:8.3f} ms empty = {ratios[key]:.2f}x "
              + (f"(target <= {TARGET}x)" if key in TARGETED else "(no target: depends on the simulator's timing)"))
    print(f"  job steps handed out by ticks: {full['steps_handed']} / {empty['steps_handed']}; idle ticks: "
          f"{full['idle_ticks']} / "
          f"{empty['idle_ticks']}  [{verdict(met)}]")
    print(f"  (no target: the list of the 20 newest batches counts their jobs: {full['list_ms']:.1f} ms "
          f"with history, {empty['list_ms']:.1f} ms with the new batch alone)")
    emit({"bench": "history", "backend": backend, "history": history, "jobs": jobs, "empty": empty, "full": full,
          "ratios": {k: round(v, 3) for k, v in ratios.items()}, "met": met})


if __name__ == "__main__":
    main()
