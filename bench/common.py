"""Shared parts of the benchmarks: a simulator subprocess, real Celery worker processes, manifests,
the journal, and CPU accounting of process trees through ``/proc``.

Everything talks to 127.0.0.1 only, and every wait has a deadline. Run a benchmark with
``.venv/bin/python bench/<name>.py`` from the repository root (``make bench`` runs them all).
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import json
import os
import signal
import sys
import time
from collections.abc import Iterator, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script from anywhere
    sys.path.insert(0, str(ROOT))

import redis  # noqa: E402
import requests  # noqa: E402
from sqlalchemy import func, select  # noqa: E402

from batch.cli.local import worker_command  # noqa: E402
from batch.commands.batches import create_batch  # noqa: E402
from batch.core.states import TERMINAL  # noqa: E402
from batch.embedded.redis import ensure_redis, stop_redis  # noqa: E402
from batch.manifest import load_manifest  # noqa: E402
from batch.store import db  # noqa: E402
from batch.store.db import fresh_pg_schema  # noqa: E402
from batch.store.jobs import counts_by_state  # noqa: E402
from batch.store.models import Job  # noqa: E402
from batch.testing.cluster import Cluster as ProcessCluster  # noqa: E402
from batch.testing.cluster import cluster_env as deployment_env  # noqa: E402
from batch.testing.cluster import wait_until  # noqa: E402

PG_URL = os.environ.get("NANOBATCH_BENCH_PG", "postgresql+psycopg://root@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("NANOBATCH_BENCH_REDIS", "redis://127.0.0.1:6379/13")
SAMPLES = ["shoe.png", "mug.png", "lamp.png", "chair.png", "watch.png", "bag.png"]
CLK_TCK = os.sysconf("SC_CLK_TCK")


def write_manifest(folder: Path, samples_base: str, jobs: int, *, name: str = "bench", styles: int = 10,
                   fmt: str = "jpeg", limits: dict[str, float] | None = None) -> Path:
    """A manifest of ``jobs`` distinct jobs (items from a CSV x ``styles`` styles), 1K outputs.

    Prompts carry ``name``, so that two batches never share a job (nanobatch would reuse the files).
    """
    items = -(-jobs // styles)
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "items.csv", "w", newline="") as handle:
        out = csv.writer(handle)
        out.writerow(["sku", "title", "image"])
        for i in range(items):
            out.writerow([f"sku-{i:06d}", f"item {i}", SAMPLES[i % len(SAMPLES)]])
    style_lines = "\n".join(f"    - {{name: s{j}, prompt: '{name} style {j} of the {{title}}'}}"
                            for j in range(styles))
    limit_lines = "".join(f"\n  {k}: {v}" for k, v in (limits or {}).items())
    text_ = f"""name: {name}
output_dir: {folder / 'out'}
output_name: "{{sku}}/{{style}}"
{"limits:" + limit_lines if limits else ""}
defaults: {{resolution: 1K, output_format: {fmt}, aspect_ratio: "1:1"}}
matrix:
  items: {{csv: items.csv}}
  id: "{{sku}}-{{style}}"
  image_urls: ["{samples_base}/samples/{{image}}"]
  styles:
{style_lines}
"""
    path = folder / "jobs.yaml"
    path.write_text(text_)
    return path


@contextlib.contextmanager
def database(folder: Path, pg: bool) -> Iterator[str]:
    """A fresh SQLite file, or a fresh PostgreSQL schema (dropped afterwards)."""
    if not pg:
        yield f"sqlite:///{folder / 'nanobatch.db'}"
        db.dispose_engines()
        return
    with fresh_pg_schema(PG_URL) as url:
        yield url


def fresh_redis(url: str = REDIS_URL) -> str:
    """The system Redis database for benchmarks, flushed."""
    redis.Redis.from_url(url).flushdb()
    return url


class Cluster(ProcessCluster):
    """The tests' process cluster, started as worker processes (the first also runs the beat), with
    the CPU its process trees spend. Logs and the beat's schedule file go to ``logs`` (the home)."""

    def start_workers(self, workers: int, concurrency: int = 8) -> None:
        """Start ``workers`` Celery worker processes (``batch.local.worker_command``)."""
        for n in range(workers):
            self.start(f"worker{n}", worker_command(concurrency=concurrency, beat=n == 0,
                                                    name=f"bench{n}-{os.getpid()}@%h"))

    def cpu_seconds(self) -> float:
        """CPU (user + system) of the worker process trees so far, reaped children included."""
        return sum(tree_cpu_seconds(p.pid) for p in self.procs.values())

    def crash_worker(self, n: int, concurrency: int = 8, settle: float = 3.0) -> list[int]:
        """SIGKILL worker ``n`` (as ``start_workers`` named it) and start it again, the beat with it
        for ``n == 0``; the pids of its children still alive ``settle`` s after the kill (orphans,
        which are then killed so that they do not linger)."""
        name = f"worker{n}"
        children = _descendants(self.procs[name].pid)
        self.kill(name)
        deadline = time.monotonic() + settle
        while time.monotonic() < deadline and any(_running(pid) for pid in children):
            time.sleep(0.1)
        orphans = [pid for pid in children if _running(pid)]
        for pid in orphans:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        cmd = worker_command(concurrency=concurrency, beat=n == 0, name=f"bench{n}-{os.getpid()}-{time.time():.0f}@%h")
        self.start(name, cmd)
        return orphans


def cluster_env(home: Path, db_url: str, redis_url: str, api_base: str, **extra: str) -> dict[str, str]:
    """The environment of the worker processes (``batch.testing.cluster.cluster_env``), with ``home`` made."""
    home.mkdir(mode=0o700, parents=True, exist_ok=True)  # a home must be private
    return deployment_env(home=home, db_url=db_url, redis_url=redis_url, api_base=api_base, **extra)


@contextlib.contextmanager
def running_cluster(env: dict[str, str], home: Path, workers: int, concurrency: int = 8) -> Iterator[Cluster]:
    """Worker processes for the duration of the block."""
    cluster = Cluster(env, home)
    try:
        cluster.start_workers(workers, concurrency)
        yield cluster
    finally:
        cluster.stop_all()


def submit(db_url: str, manifest: Path, name: str | None = None) -> tuple[int, int]:
    """Store the manifest as a batch (in this process); (batch id, jobs)."""
    loaded = load_manifest(manifest)
    return create_batch(db.session_factory(db_url), loaded, now=time.time(), name=name), len(loaded.jobs)


def terminal(db_url: str, batch_id: int) -> int:
    """How many jobs of the batch are terminal."""
    with db.session_factory(db_url)() as session:
        return int(session.scalar(select(func.count()).select_from(Job).where(
            Job.batch_id == batch_id, Job.state.in_([s.value for s in TERMINAL]))) or 0)


def states(db_url: str, batch_id: int) -> dict[str, int]:
    """Jobs of the batch by state."""
    with db.session_factory(db_url)() as session:
        return counts_by_state(session, batch_id)


def run_to_end(db_url: str, batch_id: int, jobs: int, timeout: float, cluster: Cluster) -> float:
    """Seconds until every job of the batch is terminal; RuntimeError after ``timeout``."""
    started = time.monotonic()
    if not wait_until(lambda: terminal(db_url, batch_id) == jobs, timeout, 0.05):
        raise RuntimeError(f"batch {batch_id} not done after {timeout} s: {states(db_url, batch_id)}\n"
                           f"{cluster.log_tail()}")
    return time.monotonic() - started


def warm_up(db_url: str, folder: Path, base_url: str, cluster: Cluster, timeout: float = 60.0) -> None:
    """Run a one-job batch so that every process is up, imported and connected."""
    batch_id, jobs = submit(db_url, write_manifest(folder / "warmup", base_url, 1, name="warmup", styles=1))
    run_to_end(db_url, batch_id, jobs, timeout, cluster)


def read_journal(path: Path, settle: float = 1.2) -> list[dict[str, Any]]:
    """The simulator's journal (after waiting for its periodic flush)."""
    time.sleep(settle)
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def max_in_window(times: Sequence[float], window: float = 1.0) -> tuple[int, float]:
    """The most timestamps in any half-open window [t, t + window), and where it starts."""
    ordered = sorted(times)
    best, at, j = 0, ordered[0] if ordered else 0.0, 0
    for i, start in enumerate(ordered):
        j = max(j, i)
        while j < len(ordered) and ordered[j] < start + window:
            j += 1
        if j - i > best:
            best, at = j - i, start
    return best, at


def tree_cpu_seconds(pid: int) -> float:
    """User + system CPU of ``pid`` and its live descendants, plus what reaped children used."""
    total = 0.0
    for proc in [pid, *_descendants(pid)]:
        fields = _stat(proc)
        if fields:
            total += sum(int(x) for x in fields[11:15]) / CLK_TCK  # utime stime cutime cstime
    return total


def _stat(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return raw[raw.rindex(")") + 2:].split()


def _running(pid: int) -> bool:
    fields = _stat(pid)
    return fields is not None and fields[0] != "Z"  # a zombie has exited


def _descendants(pid: int) -> list[int]:
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            fields = _stat(int(entry.name))
            if fields:
                parents.setdefault(int(fields[1]), []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        for child in parents.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def size_args(doc: str | None, *, default_jobs: int, quick_jobs: int) -> tuple[int, bool]:
    """The options every batch benchmark takes: ``--jobs``, ``--quick`` and ``--pg``; (jobs, pg)."""
    parser = argparse.ArgumentParser(description=(doc or "").split("\n")[0])
    parser.add_argument("--jobs", type=int, default=default_jobs)
    parser.add_argument("--quick", action="store_true", help=f"{quick_jobs} jobs")
    parser.add_argument("--pg", action="store_true", help="PostgreSQL instead of SQLite")
    args = parser.parse_args()
    return (quick_jobs if args.quick else args.jobs), args.pg


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q`` quantile (0..1) by nearest rank; NaN for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def verdict(ok: bool) -> str:
    """MET / NOT MET."""
    return "MET" if ok else "NOT MET"


def emit(result: dict[str, Any]) -> None:
    """Print the result as one JSON line (``run_all`` reads it) after the human-readable lines."""
    print("RESULT " + json.dumps(result, sort_keys=True), flush=True)


def money(value: float | Decimal | int | None) -> Decimal:
    """A money column's value as exact dollars, rounded to the micro-dollar.

    Columns read as float dollars here and as ``Decimal`` dollars where they are stored as integer
    micro-dollars; both come out the same, so that sums compare with ``==``.
    """
    if value is None:
        return Decimal(0)
    return Decimal(str(value)).quantize(Decimal("0.000001"))


@contextlib.contextmanager
def broker(home: Path, pg: bool) -> Iterator[str]:
    """The system Redis db (flushed), or the embedded server of ``home`` (stopped afterwards)."""
    if pg:
        yield fresh_redis()
        return
    url, _ = ensure_redis(home)
    try:
        yield url
    finally:
        stop_redis(home)


def simulator_idle(base_url: str, timeout: float = 120.0) -> None:
    """Wait until the simulator runs no job (those of lost answers finish and are charged)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        by_state = requests.get(f"{base_url}/_sim/stats", timeout=10).json()["jobs_by_state"]
        if not by_state.get("in_queue") and not by_state.get("in_progress"):
            return
        time.sleep(0.5)
