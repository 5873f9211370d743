"""A year of finished history for ``bench_history.py``: batches of finished jobs, each with one
output row and one event row, written with bulk INSERTs (not through the runner)."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator

from sqlalchemy import Table, insert, text
from sqlalchemy.engine import Connection

from batch.store import db
from batch.store.models import Batch, Job, JobEvent, Output

CHUNK = 20_000
DAY = 86_400.0


def seed(db_url: str, jobs: int, per_batch: int = 10_000) -> float:
    """Write ``jobs`` finished jobs in batches of ``per_batch`` (one a night, the newest yesterday); seconds taken."""
    started = time.monotonic()
    db.session_factory(db_url)  # migrated first
    engine = db.get_engine(db_url)
    batches = -(-jobs // per_batch)
    first_night = time.time() - (batches + 1) * DAY
    with engine.begin() as conn:
        conn.execute(insert(Batch), [
            {"id": b + 1, "name": f"nightly-{b}", "manifest_path": "/srv/nightly.yaml", "output_dir": f"/srv/out/{b}",
             "created_at": first_night + b * DAY, "finished_at": first_night + b * DAY + 3600, "charged_usd": 0.0,
             "options": {}}
            for b in range(batches)])
    rows = _job_rows(jobs, per_batch, first_night)
    while True:
        chunk = [row for _, row in zip(range(CHUNK), rows, strict=False)]
        if not chunk:
            break
        with engine.connect() as conn:
            if db.is_sqlite(db_url):  # seeding only: a bigger page cache, no fsync (before BEGIN)
                for pragma in ("PRAGMA cache_size=-262144", "PRAGMA synchronous=OFF"):
                    conn.connection.driver_connection.execute(pragma)  # type: ignore[union-attr]
            with conn.begin():
                _insert_chunk(conn, chunk)
    if not db.is_sqlite(db_url):  # rows given their ids: move the sequences past them
        with engine.begin() as conn:
            for table in ("batches", "jobs"):
                conn.execute(text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                                  f"(SELECT max(id) FROM {table}))"))
            # statistics, as autovacuum keeps them on a database that grew over a year; just after a
            # bulk load they still say "empty", and the planner hash-joins a scan of every output
            conn.execute(text("ANALYZE"))
    db.dispose_engines()  # the pragmas above stay with the seeding connections
    return time.monotonic() - started


def _insert_chunk(conn: Connection, chunk: list[dict[str, object]]) -> None:
    jobs_table: Table = Job.__table__  # type: ignore[assignment]
    conn.execute(insert(jobs_table), chunk)
    conn.execute(insert(Output), [
        {"job_id": r["id"], "idx": 0, "path": f"/srv/out/{r['batch_id']}/{r['key']}.png", "url": None, "bytes": 1000,
         "sha256": r["fingerprint"], "width": 1024, "height": 1024, "format": "png"}
        for r in chunk if r["state"] != "failed"])
    conn.execute(insert(JobEvent), [
        {"job_id": r["id"], "from_state": "downloading" if r["state"] != "failed" else "queued", "to_state": r["state"],
         "at": r["finished_at"], "detail": None}
        for r in chunk])


def _job_rows(jobs: int, per_batch: int, first_night: float) -> Iterator[dict[str, object]]:
    for i in range(jobs):
        batch, n = divmod(i, per_batch)
        at = first_night + batch * DAY + n * 0.3
        state = "failed" if i % 97 == 0 else "cached" if batch % 3 else "succeeded"
        yield {"id": i + 1, "batch_id": batch + 1, "key": f"sku-{n:06d}", "state": state,
               "inputs": {"prompt": f"history {n}"}, "output_name": f"sku-{n:06d}",
               "fingerprint": hashlib.sha256(f"history {n}".encode()).hexdigest(), "next_action_at": at,
               "attempts": 1, "submits": 1, "polls": 2, "uncertain_submits": 0, "cost": 0.15, "created_at": at,
               "submitted_at": at, "completed_at": at + 5, "finished_at": at + 6,
               "error": "upstream said no" if state == "failed" else None}
