"""Round trips per job step: how many database and Redis exchanges each step of a job makes.

A remote PostgreSQL or Redis charges its round trip for every exchange, so this counts them, in
one process (``tick.drain``, paced as the beat sends ticks) against a local simulator, PostgreSQL
and Redis: per step kind (the handler of the job's state), per job read before a step, per tick.
Counted on the database: connection checkouts (``pool_pre_ping`` sends one ping each), BEGINs,
statements, COMMITs and ROLLBACKs; on Redis: commands sent (a pipeline counts once).
Celery's own Redis traffic (task messages, acks) is not in here: ``bench_hosts`` counts the whole
of it on the wire.

Usage::

    NANOBATCH_TEST_DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/test \\
    NANOBATCH_TEST_REDIS_URL=redis://127.0.0.1:6379/4 .venv/bin/python bench/trips.py [--jobs 20]
"""

from __future__ import annotations

import argparse
import collections
import os
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import redis
from common import write_manifest
from sqlalchemy import event

from batch.commands.batches import create_batch
from batch.config import Settings
from batch.engine import steps, tick
from batch.engine.runtime import build_runtime
from batch.manifest import load_manifest
from batch.simulator import spawn_simulator
from batch.store import db
from batch.store.db import fresh_pg_schema

KINDS = ("checkout", "begin", "sql", "commit", "rollback", "redis")
_where = threading.local()
counts: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)


def _count(kind: str) -> None:
    counts[getattr(_where, "label", "other")][kind] += 1


@contextmanager
def labelled(label: str) -> Iterator[None]:
    """Count what runs in the block under ``label`` (and once as a call of it)."""
    before = getattr(_where, "label", "other")
    _where.label = label
    counts[label]["calls"] += 1
    try:
        yield
    finally:
        _where.label = before


def _wrap(label: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        with labelled(label):
            return fn(*args, **kwargs)
    return wrapped


def instrument(db_url: str) -> None:
    """Count the engine's and Redis's exchanges, labelled by the step running."""
    engine = db.get_engine(db_url)
    event.listen(engine.pool, "checkout", lambda *_: _count("checkout"))
    event.listen(engine, "begin", lambda *_: _count("begin"))
    event.listen(engine, "after_cursor_execute", lambda *_: _count("sql"))
    event.listen(engine, "commit", lambda *_: _count("commit"))
    event.listen(engine, "rollback", lambda *_: _count("rollback"))
    send = redis.connection.AbstractConnection.send_packed_command

    def counted_send(self: Any, command: Any, check_health: bool = True) -> None:
        _count("redis")
        send(self, command, check_health)

    redis.connection.AbstractConnection.send_packed_command = counted_send  # type: ignore[method-assign]
    for state, handler in list(steps.HANDLERS.items()):
        steps.HANDLERS[state] = _wrap(f"step {state.value}", handler)
    steps._read_all = _wrap("read jobs", steps._read_all)  # type: ignore[assignment]
    tick.tick = _wrap("tick", tick.tick)  # type: ignore[assignment]


def main() -> None:
    """Run a batch in this process and print the exchanges per step kind."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--jobs", type=int, default=20)
    parser.add_argument("--latency", default="2-4")
    parser.add_argument("--rate", type=float, default=20.0)
    args = parser.parse_args()
    pg = os.environ.get("NANOBATCH_TEST_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
    redis_url = os.environ.get("NANOBATCH_TEST_REDIS_URL", "redis://127.0.0.1:6379/4")
    redis.Redis.from_url(redis_url).flushdb()
    with tempfile.TemporaryDirectory(prefix="nb-trips-") as tmp, fresh_pg_schema(pg) as db_url, \
            spawn_simulator(["--latency", args.latency, "--workers", "1000", "--seed", "23"]) as sim:
        settings = Settings(home=Path(tmp), api_base=sim.base_url, token="bench", database_url=db_url,
                            redis_url=redis_url, requests_per_second=args.rate, max_in_flight=200)
        rt = build_runtime(settings, redis_url=redis_url)
        manifest = load_manifest(write_manifest(Path(tmp) / "m", sim.base_url, args.jobs, name="trips", styles=5))
        batch_id = create_batch(rt.sessions, manifest, now=time.time())
        instrument(db_url)
        counts.clear()
        began = time.monotonic()
        tick.drain(rt, batch_id, timeout=600, paced=True)
        elapsed = time.monotonic() - began
    report(len(manifest.jobs), elapsed)


def report(jobs: int, elapsed: float) -> None:
    """The table: per label, calls and exchanges per call; then per job."""
    print(f"{jobs} jobs in {elapsed:.1f} s (in-process drain, paced ticks)")
    print(f"{'where':<22}{'calls':>7} | per call: {'  '.join(f'{k:>8}' for k in KINDS)}  {'db trips':>8}")
    totals: collections.Counter[str] = collections.Counter()
    for label, c in sorted(counts.items()):
        calls = max(1, c["calls"])
        trips = sum(c[k] for k in KINDS if k != "redis")
        totals.update(c)
        print(f"{label:<22}{c['calls']:>7} | {'':10}" + "  ".join(f"{c[k] / calls:>8.2f}" for k in KINDS)
              + f"  {trips / calls:>8.2f}")
    db_trips = sum(totals[k] for k in KINDS if k != "redis")
    print(f"per job, all included: {db_trips / jobs:.1f} database round trips "
          f"({totals['sql'] / jobs:.1f} statements), {totals['redis'] / jobs:.1f} Redis commands")


if __name__ == "__main__":
    main()
