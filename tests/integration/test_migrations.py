"""Every migration applies, and the result is exactly the declared schema (both databases)."""

from __future__ import annotations

import threading

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

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
