"""Files in the data directory (database, worker log, embedded Redis and its AOF) are private: 0600 in 0700."""

from __future__ import annotations

import os
import stat
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis

from batch.cli.local import LocalWorker
from batch.embedded.redis import BEAT_LEASE_KEY, ensure_redis, stop_redis
from batch.store.db import dispose_engines, get_engine, migrate
from tests.helpers import make_settings


@pytest.fixture
def open_umask() -> Iterator[None]:
    """A umask that lets group and others read (the common default): the modes must not rely on it."""
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


def wait_for(condition: Callable[[], bool], seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def modes(root: Path) -> dict[str, int]:
    """Permission bits of everything under ``root`` (itself as ``.``), sockets left out."""
    found = {".": stat.S_IMODE(root.stat().st_mode)}
    for path in root.rglob("*"):
        info = path.lstat()
        if not stat.S_ISSOCK(info.st_mode):
            found[str(path.relative_to(root))] = stat.S_IMODE(info.st_mode)
    return found


def assert_private(root: Path) -> None:
    found = modes(root)
    wide = {name: oct(mode) for name, mode in found.items() if mode & 0o077}
    assert not wide, f"readable by others: {wide}"
    assert found["."] == 0o700


@pytest.mark.usefixtures("open_umask")
def test_database_log_and_embedded_redis_are_private(tmp_path: Path) -> None:
    home = tmp_path / "deeper" / "home"
    url = f"sqlite:///{home / 'nanobatch.db'}"
    migrate(get_engine(url))  # the engine stays open: its -wal and -shm files are there to check
    redis_url, started = ensure_redis(home)
    assert started
    try:
        client = redis.Redis.from_url(redis_url)
        client.set("k", "v")
        worker = LocalWorker(make_settings(home, url, "http://127.0.0.1:9"), redis_url, concurrency=1)
        try:
            wait_for(lambda: bool(client.exists(BEAT_LEASE_KEY)), seconds=30)  # the beat holds the lease
        finally:
            worker.stop(timeout=5)
        names = set(modes(home))
        assert {"nanobatch.db", "nanobatch.db-wal", "nanobatch.db-shm", "worker.log", "redis/redis.log"} <= names
        assert any(name.startswith("redis/appendonly") for name in names)
        assert_private(home)
    finally:
        stop_redis(home)
        dispose_engines()
    assert stat.S_IMODE(home.parent.stat().st_mode) == 0o755  # a parent we made is not the data directory
