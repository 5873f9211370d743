"""Who uses a data directory's embedded Redis: one file per user process, and the locks.

``<home>/redis/users/<pid>`` holds that process's start time (so a reused pid is not taken for
the same process). A user whose process is gone is stale and ignored (and its file removed), so
a killed process never keeps the server up. The server's supervisor stops it once no live user
remains. Registration and the supervisor's final check both happen under ``start.lock``, so a
process registering as the server stops either keeps it running or finds it gone and starts
another.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

from batch.config import private_dir, private_file, write_private
from batch.embedded.children import alive, start_time


def folder(home: Path) -> Path:
    """The embedded server's folder in the data directory."""
    return home / "redis"


def _users(home: Path) -> Path:
    return folder(home) / "users"


@contextlib.contextmanager
def start_lock(home: Path) -> Iterator[None]:
    """Held while starting, registering with or stopping the server of ``home``."""
    private_dir(private_dir(home) / "redis")
    with open(private_file(folder(home) / "start.lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def register(home: Path, pid: int | None = None) -> None:
    """Record ``pid`` (default: this process) as a user of the server; call under ``start_lock``."""
    pid = os.getpid() if pid is None else pid
    write_private(private_dir(_users(home)) / str(pid), start_time(pid) or "")


def unregister(home: Path, pid: int | None = None) -> None:
    """Forget ``pid`` (default: this process) as a user."""
    (_users(home) / str(os.getpid() if pid is None else pid)).unlink(missing_ok=True)


def live_users(home: Path) -> list[int]:
    """The pids of the users still running; stale entries are removed on the way."""
    live = []
    users = _users(home)
    for entry in users.iterdir() if users.is_dir() else ():
        try:
            pid, started = int(entry.name), entry.read_text().strip() or None
        except (ValueError, OSError):
            entry.unlink(missing_ok=True)
            continue
        if alive(pid, started):
            live.append(pid)
        else:
            entry.unlink(missing_ok=True)
    return sorted(live)


def take_supervisor_lock(home: Path) -> int | None:
    """An open fd holding ``supervisor.lock`` (passed on to the supervisor), or None if one holds it."""
    fd = os.open(private_file(folder(home) / "supervisor.lock"), os.O_RDWR | os.O_NOFOLLOW)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd
