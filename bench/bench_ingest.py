"""Benchmark 5, ingest: a 100,000-job manifest (1,000 CSV items x 100 styles) validated and stored.

``python -m batch submit`` runs as a subprocess (so its start-up counts, as a user sees it);
its wall time and peak memory (``ru_maxrss`` of the child, from ``resource.getrusage``) are
measured on SQLite and on PostgreSQL. Then ``python -m batch status <id>`` on the stored batch
(a subprocess too, median of 5 runs; printed beside it: the status query alone, in this process,
and the baseline of a bare ``python -c "import sqlalchemy.orm"`` measured in the same run).
Targets: <= 10 s on SQLite, <= 15 s on PostgreSQL, <= 400 MB peak, status <= 0.5 s.

Usage: ``.venv/bin/python bench/bench_ingest.py [--items 1000] [--styles 100] [--quick] [--no-pg]``
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from common import database, emit, verdict, write_manifest

from batch.store import db
from batch.store.queries import batch_status

TARGETS = {"sqlite": 10.0, "postgresql": 15.0}
MAX_RSS_MB = 400.0
STATUS_SECONDS = 0.5
RUNS = 5  # status and the import floor: medians of this many runs


def run_child(args: list[str], env: dict[str, str], timeout: float = 300.0) -> tuple[float, float, str]:
    """Run ``python -m batch *args``; (wall seconds, peak RSS of the child in MB, stdout)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "batch", *args], env=env, capture_output=True, text=True,
                          timeout=timeout, check=False)
    elapsed = time.monotonic() - started
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    if done.returncode != 0:
        raise RuntimeError(f"python -m batch {' '.join(args)} failed: {done.stderr[-2000:]}")
    # ru_maxrss of children is the largest child so far: only a new maximum is attributable
    return elapsed, max(peak, before) / 1024, done.stdout


def one_backend(folder: Path, manifest: Path, pg: bool) -> dict[str, Any]:
    """Submit and status on one database."""
    with database(folder, pg) as db_url:
        env = {**os.environ, "NANOBATCH_HOME": str(folder / "home"), "NANOBATCH_DATABASE_URL": db_url,
               "RUNCOMFY_API_BASE": "http://127.0.0.1:9", "RUNCOMFY_API_TOKEN": "bench"}
        db.session_factory(db_url)  # migrate first: the schema is not part of the ingest
        db.dispose_engines()
        seconds, rss_mb, out = run_child(["submit", "--json", str(manifest)], env)
        answer = json.loads(out.strip().splitlines()[-1])
        status_seconds = statistics.median(run_child(["status", str(answer["batch_id"])], env)[0]
                                           for _ in range(RUNS))
        floor = import_floor(pg)
        started = time.monotonic()
        found = batch_status(db.session_factory(db_url), answer["batch_id"])
        query_seconds = time.monotonic() - started
    return {"backend": "postgresql" if pg else "sqlite", "jobs": answer["jobs"], "seconds": round(seconds, 2),
            "peak_mb": round(rss_mb, 1), "status_seconds": round(status_seconds, 3),
            "status_query_seconds": round(query_seconds, 3), "import_floor_seconds": round(floor, 3),
            "total": found.total if found else None}


def import_floor(pg: bool) -> float:
    """Median wall time of a bare ``python -c 'import sqlalchemy.orm[, psycopg]'``: what any command
    that reads the database pays before doing anything (the baseline ``status`` is compared with)."""
    code = "import sqlalchemy.orm" + (", psycopg" if pg else "")

    def once() -> float:
        started = time.monotonic()
        subprocess.run([sys.executable, "-c", code], check=True)
        return time.monotonic() - started

    return statistics.median(once() for _ in range(RUNS))


def main() -> None:
    """Ingest on SQLite (and PostgreSQL) and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--items", type=int, default=1000)
    parser.add_argument("--styles", type=int, default=100)
    parser.add_argument("--quick", action="store_true", help="10,000 jobs (200 x 50)")
    parser.add_argument("--no-pg", action="store_true", help="SQLite only")
    args = parser.parse_args()
    items, styles = (200, 50) if args.quick else (args.items, args.styles)
    results = []
    with tempfile.TemporaryDirectory(prefix="nb-bench-ingest-") as tmp:
        folder = Path(tmp)
        manifest = write_manifest(folder / "manifest", "https://cdn.example.com", items * styles, styles=styles,
                                  name="ingest", fmt="png")
        for pg in (False,) if args.no_pg else (False, True):
            results.append(one_backend(folder / ("pg" if pg else "sqlite"), manifest, pg))
    met = True
    for r in results:
        target = TARGETS[r["backend"]]
        ok = r["seconds"] <= target and r["peak_mb"] <= MAX_RSS_MB and r["status_seconds"] <= STATUS_SECONDS
        r["met"] = ok
        met = met and ok
        print(f"{r['backend']:10}: {r['jobs']} jobs validated and stored in {r['seconds']} s "
              f"(target {target:g} s, ratio {r['seconds'] / target:.2f}); peak {r['peak_mb']} MB "
              f"(target {MAX_RSS_MB:g}); status {r['status_seconds']} s as a command (median of {RUNS}), "
              f"{r['status_query_seconds']} s for the query (target {STATUS_SECONDS}); importing SQLAlchemy's "
              f"ORM{' and psycopg' if r['backend'] == 'postgresql' else ''} alone takes "
              f"{r['import_floor_seconds']} s here  [{verdict(ok)}]")
    emit({"bench": "ingest", "results": results, "met": met})


if __name__ == "__main__":
    main()
