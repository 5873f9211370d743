"""Is the broker (Redis) or the database reachable? What ``run`` says when one has not been for a while.

``Reachability`` remembers, per dependency, since when it has failed; ``BrokerWatch`` is a
thread that pings the broker every second and, for the embedded server, asks ``ensure_redis``
to bring it back when it stops answering (its supervisor restarts it; if the supervisor itself
died, a new one is started).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

GRACE_SECONDS = 3.0  # an outage shorter than this (a restart) is not worth a word


def safe_url(url: str) -> str:
    """The URL without user name and password, fit to show."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return urlunsplit(parts._replace(netloc=parts.netloc.rsplit("@", 1)[1]))


class Reachability:
    """Since when each named dependency has been unreachable (wall-clock time, for people)."""

    def __init__(self, *, clock: Callable[[], float] = time.time, grace: float = GRACE_SECONDS) -> None:
        self.clock = clock
        self.grace = grace
        self._down: dict[str, float] = {}
        self._lock = threading.Lock()

    def ok(self, name: str) -> None:
        """``name`` answered."""
        with self._lock:
            self._down.pop(name, None)

    def failed(self, name: str) -> None:
        """``name`` did not answer; its outage starts now unless it already had."""
        with self._lock:
            self._down.setdefault(name, self.clock())

    def down(self) -> list[tuple[str, float]]:
        """(name, since) of each dependency down for longer than the grace period, longest first."""
        now = self.clock()
        with self._lock:
            down = sorted(self._down.items(), key=lambda item: item[1])
        return [(name, since) for name, since in down if now - since >= self.grace]

    def describe(self, name: str, since: float) -> str:
        """``<name> unreachable since HH:MM:SS (N s)``."""
        return (f"{name} unreachable since {datetime.fromtimestamp(since).strftime('%H:%M:%S')} "
                f"({self.clock() - since:.0f} s)")

    def warnings(self) -> list[str]:
        """One line per dependency down for longer than the grace period, naming it and since when."""
        return [self.describe(name, since) for name, since in self.down()]


class BrokerWatch:
    """A daemon thread: ping the broker every ``interval`` seconds, record it, revive the embedded one."""

    def __init__(self, url: str, reach: Reachability, *, home: Path | None, interval: float = 1.0) -> None:
        self.url = url
        self.name = f"broker ({safe_url(url)})"
        self.reach = reach
        self.home = home  # set for the embedded server only
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="broker-watch", daemon=True)

    def start(self) -> BrokerWatch:
        """Start watching."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop watching (returns once the thread has ended)."""
        self._stop.set()
        self._thread.join()

    def check(self) -> bool:
        """One look: True if the broker answered (after reviving the embedded one if needed)."""
        import redis

        from batch import redis as redis_server
        from batch.errors import ConfigError

        try:
            redis.Redis.from_url(self.url, socket_timeout=1, socket_connect_timeout=1).ping()
        except (redis.RedisError, OSError):
            self.reach.failed(self.name)
            if self.home is None:
                return False
            try:
                redis_server.ensure_redis(self.home, timeout=self.interval * 5)
            except ConfigError:
                return False
        self.reach.ok(self.name)
        return True

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            self.check()
