"""Every migration applies, and the result is exactly the declared schema (both databases)."""

from __future__ import annotations

import threading
from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text

from batch.commands.batches import create_batch
from batch.manifest import JobSpec, Limits, Manifest
from batch.store import db
from batch.store.models import Base
from tests.conftest import Backend


def test_migrations_match_the_models(backend: Backend) -> None:
    engine = db.get_engine(backend.db_url)
    db.migrate(engine)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata)
    assert diff == []
    assert db.is_current(engine)
    tables = set(inspect(engine).get_table_names())
    assert {"batches", "jobs", "outputs", "job_events", "alembic_version"} <= tables


def test_concurrent_first_use_migrates_once(backend: Backend) -> None:
    engine = db.get_engine(backend.db_url)
    failures: list[BaseException] = []

    def first_use() -> None:
        try:
            db._migrated.discard(str(engine.url))
            db.migrate(engine)
        except BaseException as exc:  # pragma: no cover - reported below
            failures.append(exc)

    threads = [threading.Thread(target=first_use) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []
    assert db.is_current(engine)


def test_file_name_order_gives_alembics_head(sqlite_url: str) -> None:
    from alembic.script import ScriptDirectory

    engine = db.get_engine(sqlite_url)
    assert db.newest_revision() == ScriptDirectory.from_config(db.alembic_config(engine)).get_current_head()


def test_0005_parks_far_future_pending_jobs_and_its_downgrade_restores_them(tmp_path: Path,
                                                                            backend: Backend) -> None:
    from alembic import command

    specs = [JobSpec(id=f"j{i}", inputs={"prompt": "p"}, output_name=f"j{i}.png", line=1, vars={}) for i in range(3)]
    manifest = Manifest(name="t", path=str(tmp_path / "m.yaml"), jobs=specs, output_dir=str(tmp_path / "out"),
                        limits=Limits(), budget_usd=None, notify=None, warnings=[])
    batch_id = create_batch(db.session_factory(backend.db_url), manifest, now=100.0)
    engine = db.get_engine(backend.db_url)
    cfg = db.alembic_config(engine)
    command.downgrade(cfg, "0004")
    with engine.begin() as conn:  # two jobs parked the old way: pending, due at a time no tick reaches
        far = conn.execute(text("SELECT id FROM jobs WHERE batch_id = :b ORDER BY id LIMIT 2"), {"b": batch_id})
        parked = [row[0] for row in far]
        for job_id in parked:
            conn.execute(text("UPDATE jobs SET next_action_at = 1e12 WHERE id = :id"), {"id": job_id})

    def rows() -> tuple[dict[int, tuple[str, float]], list[tuple[int, str, str]]]:
        with engine.connect() as conn:
            jobs = {i: (state, at) for i, state, at in conn.execute(text("SELECT id, state, next_action_at FROM jobs"))}
            events = [tuple(r) for r in conn.execute(text("SELECT job_id, from_state, to_state FROM job_events"))]
        return jobs, events  # type: ignore[return-value]

    command.upgrade(cfg, "0005")
    jobs, events = rows()
    assert sorted(i for i, (state, _) in jobs.items() if state == "parked") == parked
    assert [state for state, _ in jobs.values()].count("pending") == 1
    assert sorted(events) == [(i, "pending", "parked") for i in parked]
    command.downgrade(cfg, "0004")
    jobs, events = rows()
    assert {jobs[i] for i in parked} == {("pending", 1e12)} and [s for s, _ in jobs.values()].count("pending") == 3
    both_ways = [(i, "pending", "parked") for i in parked] + [(i, "parked", "pending") for i in parked]
    assert sorted(events) == sorted(both_ways)
    command.upgrade(cfg, "head")
    assert db.is_current(engine)
