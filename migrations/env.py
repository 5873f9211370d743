"""Alembic environment: runs migrations on the engine handed over by ``batch.db``."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from alembic import context
from sqlalchemy import Connection, Engine, create_engine

from batch.store.models import Base


def _engine() -> Engine:
    engine = context.config.attributes.get("engine")
    if engine is not None:
        return engine  # type: ignore[no-any-return]
    url = context.config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("no engine and no sqlalchemy.url given to alembic")
    return create_engine(url)


def run_migrations_online() -> None:
    """Run every pending migration in one transaction (batch mode keeps SQLite ALTERs working)."""
    engine = _engine()
    with engine.connect() as connection, _sqlite_foreign_keys_off(connection):
        context.configure(
            connection=connection,
            target_metadata=Base.metadata,
            render_as_batch=True,
            compare_type=True,
        )
        with context.begin_transaction():
            context.run_migrations()
        connection.commit()


@contextmanager
def _sqlite_foreign_keys_off(connection: Connection) -> Iterator[None]:
    """SQLite: no foreign key actions while migrating, then on again.

    Batch mode changes a column by copying the table and dropping the old one; with foreign keys
    on, that DROP deletes every row first and ON DELETE CASCADE empties the tables that point at
    it (changing ``batches`` would delete every job). The pragma is a no-op inside a transaction,
    so it goes straight to the driver before the migration's transaction begins.
    """
    if connection.dialect.name != "sqlite":
        yield
        return
    driver = connection.connection.driver_connection
    assert driver is not None
    driver.execute("PRAGMA foreign_keys=OFF")
    try:
        yield
    finally:
        driver.execute("PRAGMA foreign_keys=ON")


run_migrations_online()
