"""Database engines and sessions, and the migrations applied on first use under a lock.

SQLite (the embedded default) runs in WAL mode with a busy timeout; write transactions open
with ``BEGIN IMMEDIATE`` so that two workers never deadlock upgrading a read lock. PostgreSQL
needs nothing special here: claims use ``FOR UPDATE SKIP LOCKED`` (see ``batch.store``).
"""

from __future__ import annotations

import fcntl
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session, sessionmaker

import migrations
from batch.config import private_dir, private_file

if TYPE_CHECKING:  # alembic loads only when a database is behind (keeps every CLI call quick)
    from alembic.config import Config

MIGRATIONS_DIR = Path(migrations.__file__).parent
_PG_LOCK_KEY = 0x6E616E6F  # "nano": advisory lock id that serialises migrations
_engines: dict[str, Engine] = {}
_engines_lock = threading.Lock()


def is_sqlite(url: str) -> bool:
    """True for a SQLite URL."""
    return url.startswith("sqlite")


def _sqlite_engine(url: str) -> Engine:
    path = url.split("///", 1)[1] if "///" in url else ""
    if path and path != ":memory:":
        private_dir(Path(path).parent, checked=False)  # the home itself is checked with the settings
        private_file(Path(path))  # SQLite gives its -wal and -shm files the database file's mode
    engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # let SQLAlchemy's "begin" event emit BEGIN itself
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        # on the driver's connection: SQLAlchemy's statement path costs more CPU than the BEGIN
        conn.connection.driver_connection.execute("BEGIN IMMEDIATE")  # type: ignore[union-attr]

    return engine


def get_engine(url: str) -> Engine:
    """One engine per URL per process (created on first use)."""
    with _engines_lock:
        engine = _engines.get(url)
        if engine is None:
            engine = _sqlite_engine(url) if is_sqlite(url) else create_engine(url, pool_pre_ping=True)
            _engines[url] = engine
        return engine


def dispose_engines() -> None:
    """Close every pooled connection (after fork, and in tests)."""
    with _engines_lock:
        for engine in _engines.values():
            engine.dispose()
        _engines.clear()


def session_factory(url: str) -> sessionmaker[Session]:
    """A session factory bound to the (migrated) database at ``url``."""
    engine = get_engine(url)
    migrate(engine)
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A session whose work commits on success and rolls back on any exception."""
    with factory() as session, session.begin():
        yield session


def alembic_config(engine: Engine) -> Config:
    """Alembic configuration pointing at our migrations and ``engine``."""
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.attributes["engine"] = engine
    return cfg


def _current_revision(engine: Engine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def is_current(engine: Engine) -> bool:
    """True when the database is at the newest migration (alembic's own answer)."""
    stored, head = revisions(engine)
    return stored == head


def revisions(engine: Engine) -> tuple[str | None, str]:
    """(the database's revision, the newest this code knows): equal when migrations are at head."""
    from alembic.script import ScriptDirectory

    return _current_revision(engine), str(ScriptDirectory.from_config(alembic_config(engine)).get_current_head())


def newest_revision() -> str:
    """The newest migration's id, from the file names (``NNNN_name.py``, ids in order)."""
    return max(p.name.split("_", 1)[0] for p in (MIGRATIONS_DIR / "versions").glob("[0-9]*_*.py"))


def _stored_revision(engine: Engine) -> str | None:
    try:
        with engine.connect() as conn:
            return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
    except Exception:  # no table yet: a new database
        return None


_migrated: set[str] = set()


def migrate(engine: Engine) -> None:
    """Apply pending migrations once per process, holding a lock so two processes never race."""
    key = str(engine.url)
    if key in _migrated:
        return
    if _stored_revision(engine) != newest_revision():
        from alembic import command

        with _migration_lock(engine):
            if not is_current(engine):
                command.upgrade(alembic_config(engine), "head")
    _migrated.add(key)


@contextmanager
def _migration_lock(engine: Engine) -> Iterator[None]:
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": _PG_LOCK_KEY})
            try:
                yield
            finally:
                conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": _PG_LOCK_KEY})
                conn.commit()
        return
    db_path = engine.url.database or ""
    lock_path = Path(db_path + ".migrate.lock") if db_path and db_path != ":memory:" else None
    if lock_path is None:
        yield
        return
    with open(private_file(lock_path), "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@contextmanager
def fresh_pg_schema(base_url: str) -> Iterator[str]:
    """A new PostgreSQL schema, as ``base_url`` with its search_path; dropped on exit."""
    schema = f"nb_{uuid.uuid4().hex[:12]}"
    admin = create_engine(base_url)
    with admin.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    sep = "&" if "?" in base_url else "?"
    try:
        yield f"{base_url}{sep}options=-csearch_path%3D{schema}"
    finally:
        dispose_engines()
        with admin.begin() as conn:
            conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


def answers(url: str) -> bool:
    """True if the database at ``url`` answers ``SELECT 1`` now."""
    from sqlalchemy.exc import DBAPIError

    try:
        with get_engine(url).connect() as conn:
            conn.execute(text("SELECT 1"))
    except DBAPIError:
        return False
    return True
