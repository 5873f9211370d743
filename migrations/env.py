"""Alembic environment: runs migrations on the engine handed over by ``batch.db``."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Engine, create_engine

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
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=Base.metadata,
            render_as_batch=True,
            compare_type=True,
        )
        with context.begin_transaction():
            context.run_migrations()
        connection.commit()


run_migrations_online()
