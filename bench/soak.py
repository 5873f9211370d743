"""Soak: a batch under upstream faults while workers and Redis are killed, then its invariants.

N jobs (default 1,000) against the simulator answering 10% of /v1 calls 503, dropping 2% of
connections (a dropped submit still creates its job), rate-limiting below the runner's own rate
(429s), failing 3% of jobs and delaying 1% of answers past the client's timeout, while a chaos
loop SIGKILLs a worker every 15 s (and starts it again) and SIGKILLs the embedded Redis once
(``ensure_redis`` starts it again, as a supervisor would). Then, not part of ``make test``:

- every job terminal, succeeded / failed by reason;
- no submit body journalled by the simulator more often than once plus the job's counted
  uncertain submits (the crash test's rule);
- every output file matching the sha256 in the database;
- the recorded cost (jobs' ``cost`` and batches' ``charged_usd``) equal to what the simulator
  charged, less what it charged for requests the database never learnt of (lost answers);
- wall time against the same batch without faults or chaos (``--no-baseline`` skips it).

Default: SQLite and the embedded Redis in a temporary home. ``--pg``: PostgreSQL and the system
Redis (``NANOBATCH_BENCH_REDIS``, db 13), which is flushed rather than killed.

Usage: ``.venv/bin/python bench/soak.py [--jobs 1000] [--quick] [--pg] [--no-baseline]``
Exit status 1 when an invariant is broken.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import signal
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import requests
from common import (
    Cluster,
    broker,
    cluster_env,
    database,
    emit,
    fresh_redis,
    money,
    run_to_end,
    running_cluster,
    simulator_idle,
    submit,
    verdict,
    warm_up,
    write_manifest,
)
from sqlalchemy import select

from batch.core.states import TERMINAL
from batch.embedded import redis as embedded
from batch.simulator import spawn_simulator
from batch.simulator.journal import body_sha256
from batch.simulator.testing import SimClient
from batch.store import db
from batch.store.models import Batch, Job, JobEvent, Output
from batch.testing.helpers import journal_submits  # the crash test's count of submits per body

FAULTS = ["--error-rate", "0.10", "--drop-rate", "0.02", "--rate-limit", "20", "--fail-rate", "0.03",
          "--slow-rate", "0.01", "--slow-download-rate", "0.01",
          "--slow-seconds", "25"]  # 25 s: past the runner's 20 s HTTP timeout; a slow file arrives over 25 s
UPSTREAM = ["--workers", "200", "--latency", "1-3"]
SETTINGS = {"NANOBATCH_REQUESTS_PER_SECOND": "50", "NANOBATCH_MAX_IN_FLIGHT": "200",
            "NANOBATCH_LEASE_SECONDS": "15", "NANOBATCH_TICK_SECONDS": "1"}
TOKEN = "test"  # what batch.testing.cluster gives the workers; the simulator ties jobs to it
SUBMITTED = (200, "drop", None)  # journal answers after which the simulator holds a job


@dataclass(frozen=True)
class Plan:
    """What to run: sizes and the chaos schedule."""

    jobs: int
    pg: bool
    baseline: bool
    workers: int
    kill_every: float
    kills: int
    redis_at: float
    seed: int
    timeout: float


def parse_args() -> Plan:
    """The command line as a Plan."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--quick", action="store_true", help="200 jobs, one worker kill")
    parser.add_argument("--pg", action="store_true", help="PostgreSQL and the system Redis")
    parser.add_argument("--no-baseline", action="store_true", help="skip the run without faults")
    parser.add_argument("--workers", type=int, default=2, help="worker processes (the first runs the beat)")
    parser.add_argument("--kill-every", type=float, default=15.0, help="seconds between worker SIGKILLs")
    parser.add_argument("--redis-at", type=float, default=22.5, help="second of the Redis SIGKILL")
    parser.add_argument("--seed", type=int, default=17, help="the simulator's fault dice")
    parser.add_argument("--timeout", type=float, default=1800.0, help="seconds before giving up on the batch")
    args = parser.parse_args()
    jobs = 200 if args.quick else args.jobs
    if jobs < 1 or args.workers < 1 or args.kill_every <= 0:
        parser.error("--jobs, --workers and --kill-every must be positive")
    return Plan(jobs=jobs, pg=args.pg, baseline=not args.no_baseline, workers=args.workers,
                kill_every=args.kill_every, kills=1 if args.quick else 10**6, redis_at=args.redis_at,
                seed=args.seed, timeout=args.timeout)


class Chaos(threading.Thread):
    """SIGKILLs a worker every ``kill_every`` s (restarting it) and the broker once, until stopped."""

    def __init__(self, plan: Plan, cluster: Cluster, home: Path, redis_url: str) -> None:
        super().__init__(name="chaos", daemon=True)
        self.plan, self.cluster, self.home, self.redis_url = plan, cluster, home, redis_url
        self.events: list[str] = []
        self.orphans: list[int] = []
        self.worker_kills = 0
        self._halt = threading.Event()

    def run(self) -> None:
        """The loop: one action at a time, at its second."""
        start = time.monotonic()
        redis_done = False
        while not self._halt.wait(0.2):
            now = time.monotonic() - start
            try:
                if not redis_done and now >= self.plan.redis_at:
                    redis_done = True
                    self._crash_redis(now)
                elif self.worker_kills < self.plan.kills and now >= self.plan.kill_every * (self.worker_kills + 1):
                    self._crash_worker(now)
            except Exception as exc:  # a soak reports what went wrong, goes on
                self.events.append(f"{now:6.1f} s  chaos failed: {exc!r}")

    def stop(self) -> None:
        """End the loop and wait for it."""
        self._halt.set()
        self.join(60)

    def _crash_worker(self, now: float) -> None:
        n = self.worker_kills % self.plan.workers
        self.worker_kills += 1
        orphans = self.cluster.crash_worker(n)
        self.orphans += orphans
        left = f"; {len(orphans)} of its children outlived it: {orphans}" if orphans else ""
        self.events.append(f"{now:6.1f} s  worker{n} SIGKILLed and restarted{left}")

    def _crash_redis(self, now: float) -> None:
        if self.plan.pg:  # the system Redis is shared: lose its contents instead
            fresh_redis(self.redis_url)
            self.events.append(f"{now:6.1f} s  system Redis db flushed")
            return
        pid = int((self.home / "redis" / "redis.pid").read_text().strip())
        os.kill(pid, signal.SIGKILL)
        while Path(f"/proc/{pid}").exists():
            time.sleep(0.02)
        started = time.monotonic()
        embedded.ensure_redis(self.home)
        self.events.append(f"{now:6.1f} s  embedded Redis (pid {pid}) SIGKILLed; answering again after "
                           f"{time.monotonic() - started:.2f} s (its supervisor, or ensure_redis, restarts it)")


@dataclass
class Outcome:
    """One run: its wall time (None: not every job became terminal) and what the checks found."""

    elapsed: float | None
    figures: dict[str, Any] = field(default_factory=dict)
    broken: list[str] = field(default_factory=list)
    events: list[str] = field(default_factory=list)
    offenders: list[int] = field(default_factory=list)
    histories: list[str] = field(default_factory=list)


def run_batch(plan: Plan, folder: Path, *, faults: bool) -> Outcome:
    """Run one batch (with faults and chaos, or without) and check it."""
    journal, home = folder / "journal.jsonl", folder / "home"
    sim_args = [*UPSTREAM, "--seed", str(plan.seed), "--journal", str(journal), *(FAULTS if faults else [])]
    with spawn_simulator(sim_args) as sim, database(folder, plan.pg) as db_url, broker(home, plan.pg) as redis_url:
        env = cluster_env(home, db_url, redis_url, sim.base_url, **SETTINGS)
        with running_cluster(env, home, workers=plan.workers) as cluster:
            warm_up(db_url, folder, sim.base_url, cluster, timeout=300)
            batch_id, count = submit(db_url, write_manifest(folder / "batch", sim.base_url, plan.jobs,
                                                            name="soak" if faults else "calm"))
            load = os.getloadavg()[0]  # the machine is shared: say how busy it was
            chaos = Chaos(plan, cluster, home, redis_url)
            if faults:
                chaos.start()
            try:
                elapsed: float | None = run_to_end(db_url, batch_id, count, plan.timeout, cluster)
            except RuntimeError as exc:
                elapsed = None
                print(f"NOT TERMINAL: {exc}", file=sys.stderr)
            finally:
                if faults:
                    chaos.stop()
        outcome = Outcome(elapsed, events=chaos.events)
        outcome.figures.update(orphans=len(chaos.orphans), load_average=round(load, 1))
        simulator_idle(sim.base_url)
        check(db_url, batch_id, journal, sim.base_url, outcome)
    return outcome


def check(db_url: str, batch_id: int, journal: Path, base_url: str, outcome: Outcome) -> None:
    """Fill ``outcome`` with the figures and the broken invariants."""
    wait_journal(journal, base_url)
    with db.session_factory(db_url)() as session:
        jobs = list(session.scalars(select(Job)))
        outputs = list(session.scalars(select(Output)))
        charged_usd = sum((money(b.charged_usd) for b in session.scalars(select(Batch))), Decimal(0))
    mine = [j for j in jobs if j.batch_id == batch_id]
    outcome.figures.update(job_figures(mine))
    if outcome.elapsed is None:
        outcome.broken.append("not every job is terminal")
    check_submits(jobs, journal, outcome)
    check_files(jobs, outputs, outcome)
    check_cost(jobs, charged_usd, journal, base_url, outcome)
    outcome.histories = histories(db_url, {j.id: j for j in jobs}, outcome.offenders)


def histories(db_url: str, jobs: dict[int, Job], job_ids: list[int]) -> list[str]:
    """The event trail of each job that broke an invariant, for the report."""
    lines = []
    with db.session_factory(db_url)() as session:
        for job_id in dict.fromkeys(job_ids):
            job = jobs[job_id]
            lines.append(f"job {job_id} {job.key}: {job.state}, request {job.request_id}, submits {job.submits} "
                         f"(uncertain {job.uncertain_submits}), cost {job.cost}, error {job.error!r}")
            for ev in session.scalars(select(JobEvent).where(JobEvent.job_id == job_id).order_by(JobEvent.id)):
                lines.append(f"    {ev.at:.3f} {ev.from_state} -> {ev.to_state}  {ev.detail or ''}")
    return lines


def job_figures(jobs: list[Job]) -> dict[str, Any]:
    """States, failures by reason and the counts of submits."""
    terminal = {s.value for s in TERMINAL}
    reasons = Counter(_reason(j.error) for j in jobs if j.state == "failed")
    return {"jobs": len(jobs), "terminal": sum(j.state in terminal for j in jobs),
            "states": dict(Counter(j.state for j in jobs)), "failed_by_reason": dict(reasons.most_common()),
            "submits": sum(j.submits for j in jobs), "uncertain_submits": sum(j.uncertain_submits for j in jobs)}


def _reason(error: str | None) -> str:
    """An error text with its numbers and ids blanked, so that like failures group together."""
    return re.sub(r"\b[0-9a-f]{12,}\b|\d+(\.\d+)?", "#", error or "(no error text)")[:160]


def check_submits(jobs: list[Job], journal: Path, outcome: Outcome) -> None:
    """Submits journalled beyond once plus the job's counted uncertain submits (must be none)."""
    journalled = journal_submits(journal)
    excess = {j.id: journalled.get(body_sha256(j.inputs), 0) - 1 - j.uncertain_submits for j in jobs}
    over = {job_id: n for job_id, n in excess.items() if n > 0}
    outcome.figures["duplicate_submits_uncounted"] = sum(over.values())
    if over:
        outcome.broken.append(f"uncounted duplicate submits: jobs {sorted(over)[:10]}")
        outcome.offenders += sorted(over)[:10]


def check_files(jobs: list[Job], outputs: list[Output], outcome: Outcome) -> None:
    """Output files whose bytes differ from the recorded sha256 (or are gone), and succeeded jobs
    with no output row."""
    bad = [o.job_id for o in outputs if _sha256(Path(o.path)) != o.sha256]
    with_output = {o.job_id for o in outputs}
    bare = [j.id for j in jobs if j.state == "succeeded" and j.id not in with_output]
    parts = list(Path(outputs[0].path).parents[1].rglob("*.part*")) if outputs else []
    outcome.figures.update({"files": len(outputs), "sha256_mismatch": len(bad),
                            "succeeded_without_file": len(bare), "part_files_left": len(parts)})
    if bad or bare:
        outcome.broken.append(f"files not as recorded: jobs {sorted(bad)[:10]}; succeeded with none: {bare[:10]}")
        outcome.offenders += sorted(bad)[:10] + bare[:10]


def _sha256(path: Path) -> str | None:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else None


def check_cost(jobs: list[Job], charged_usd: Decimal, journal: Path, base_url: str, outcome: Outcome) -> None:
    """The recorded cost against the simulator's charges, request by request where it matters."""
    recorded = sum((money(j.cost) for j in jobs), Decimal(0))
    stats = requests.get(f"{base_url}/_sim/stats", timeout=10).json()
    sim_total = money(stats["cost_charged"])
    outcome.figures["upstream"] = {k: stats[k] for k in ("submit_calls", "status_calls", "result_calls",
                                                         "rate_limited", "server_errors", "drops", "slow_answers",
                                                         "slow_downloads")}
    known = {j.request_id for j in jobs if j.request_id}
    ghosts = _submitted_ids(journal) - known  # requests whose answer (and id) the runner never got
    client = SimClient(base_url, token=TOKEN)
    ghost_charged = sum((_charged(client, rid) for rid in sorted(ghosts)), Decimal(0))
    balanced = recorded == charged_usd == sim_total - ghost_charged
    suspects = [j for j in jobs if j.request_id and (j.state != "succeeded" or not balanced)]  # all if unbalanced
    unrecorded = [j.id for j in suspects if _charged(client, j.request_id or "") != money(j.cost)]
    client.close()
    outcome.figures.update({
        "cost_recorded_jobs": str(recorded), "cost_recorded_batches": str(charged_usd),
        "cost_charged_upstream": str(sim_total), "lost_answer_requests": len(ghosts),
        "cost_of_lost_answers": str(ghost_charged), "paid_not_recorded_jobs": unrecorded[:10]})
    if not balanced or unrecorded:
        outcome.broken.append(f"cost: jobs {recorded}, batches {charged_usd}, upstream {sim_total} "
                              f"- lost answers {ghost_charged}; paid but not recorded: jobs {unrecorded[:10]}")
        outcome.offenders += unrecorded[:10]


def wait_journal(journal: Path, base_url: str, timeout: float = 60.0) -> None:
    """Wait until the journal holds every job the simulator created: a late answer is journalled
    when sent, up to ``--slow-seconds`` after its job was created (and after the batch ended)."""
    deadline = time.monotonic() + timeout
    while len(_submitted_ids(journal)) < requests.get(f"{base_url}/_sim/stats", timeout=10).json()["submits"]:
        if time.monotonic() > deadline:
            raise RuntimeError(f"the simulator's journal {journal} lacks submits after {timeout} s")
        time.sleep(0.5)


def _submitted_ids(journal: Path) -> set[str]:
    entries = [json.loads(line) for line in journal.read_text().splitlines() if line.strip()]
    return {e["request_id"] for e in entries if e.get("body_sha256") and e.get("status") in SUBMITTED
            and e.get("request_id")}


def _charged(client: SimClient, request_id: str, tries: int = 50) -> Decimal:
    """What the simulator charged for one request (it injects faults into this call too)."""
    for _ in range(tries):
        try:
            answer = client.result(request_id, include_cost=True)
        except requests.RequestException:
            continue
        if answer.status_code == 200:
            return money(answer.json().get("cost"))
        time.sleep(float(answer.headers.get("Retry-After", "0.1")))
    raise RuntimeError(f"no cost for request {request_id} after {tries} tries")


def report(label: str, outcome: Outcome) -> None:
    """The human-readable lines of one run."""
    f = outcome.figures
    wall = "not finished" if outcome.elapsed is None else f"{outcome.elapsed:.1f} s"
    print(f"== {label}: wall time {wall} (load average {f['load_average']} on {os.cpu_count()} cores at the start)")
    for line in outcome.events:
        print(f"   chaos {line}")
    print(f"   jobs terminal {f['terminal']}/{f['jobs']}; states {f['states']}")
    for reason, n in f["failed_by_reason"].items():
        print(f"   failed x{n}: {reason}")
    print(f"   submits {f['submits']} (uncertain {f['uncertain_submits']}); duplicate submits beyond the "
          f"counted uncertain ones: {f['duplicate_submits_uncounted']} (must be 0)")
    print(f"   files {f['files']}; sha256 differing from the database: {f['sha256_mismatch']} (must be 0); "
          f"succeeded without a file: {f['succeeded_without_file']}; "
          f".part files or .parts folders left: {f['part_files_left']}")
    print(f"   cost recorded ${f['cost_recorded_jobs']} (jobs) / ${f['cost_recorded_batches']} (batches); "
          f"simulator charged ${f['cost_charged_upstream']}, of which ${f['cost_of_lost_answers']} for "
          f"{f['lost_answer_requests']} requests whose answer was lost (must be equal after that)")
    print(f"   upstream answers {f['upstream']}; worker children outliving a SIGKILL: {f['orphans']}")
    for line in outcome.broken:
        print(f"   BROKEN: {line}")
    for line in outcome.histories:
        print(f"   {line}")


def main() -> None:
    """Run the soak (and the calm baseline), print the figures, exit 1 if an invariant broke."""
    plan = parse_args()
    with tempfile.TemporaryDirectory(prefix="nb-soak-") as tmp:
        soak = run_batch(plan, Path(tmp) / "soak", faults=True)
        report(f"{plan.jobs} jobs, faults {' '.join(FAULTS)}, a worker SIGKILLed every {plan.kill_every:g} s, "
               f"the broker at {plan.redis_at:g} s ({'PostgreSQL' if plan.pg else 'SQLite + embedded Redis'})", soak)
        calm = run_batch(plan, Path(tmp) / "calm", faults=False) if plan.baseline else None
    broken = soak.broken + (calm.broken if calm else [])
    ratio = None
    if calm is not None:
        report(f"{plan.jobs} jobs, no faults, no chaos", calm)
        if soak.elapsed and calm.elapsed:
            ratio = soak.elapsed / calm.elapsed
            print(f"wall time with faults {soak.elapsed:.1f} s vs without {calm.elapsed:.1f} s: {ratio:.2f}x")
    print(f"invariants: {verdict(not broken)}")
    emit({"bench": "soak", "jobs": plan.jobs, "pg": plan.pg, "seconds": soak.elapsed,
          "baseline_seconds": calm.elapsed if calm else None, "ratio": round(ratio, 2) if ratio else None,
          "figures": soak.figures, "chaos": soak.events, "broken": broken, "met": not broken})
    sys.exit(1 if broken else 0)


if __name__ == "__main__":
    main()
