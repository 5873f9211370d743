"""Is the broker (Redis) or the database reachable? What a process says when one has not been for a while.

``Reachability`` remembers, per dependency, since when it has failed; ``Watch`` is a thread that
runs checks (``broker_check``, ``database_check``) every second. ``run`` shows the outages on its
progress line; a worker logs them.
"""

from __future__ import annotations

import contextlib
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

    def failed(self, name: str, *, at: float | None = None) -> None:
        """``name`` did not answer (asked at ``at``, default now); its outage starts then unless it already had."""
        with self._lock:
            self._down.setdefault(name, self.clock() if at is None else at)

    def failing(self) -> set[str]:
        """Every dependency that failed its last check, however briefly."""
        with self._lock:
            return set(self._down)

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


Check = Callable[[], bool]


def broker_check(url: str) -> Check:
    """PING the broker."""
    import redis

    def check() -> bool:
        try:
            return bool(redis.Redis.from_url(url, socket_timeout=1, socket_connect_timeout=1).ping())
        except (redis.RedisError, OSError):
            return False

    return check


def embedded_revival(home: Path, *, timeout: float = 5.0) -> Callable[[], None]:
    """What brings the embedded server of ``home`` back: ``ensure_redis`` again.

    Its supervisor restarts a server that died; if the supervisor itself died (and the server with
    it), ``ensure_redis`` starts both again. A server that hangs is only reported.
    """

    def revive() -> None:
        from batch.embedded import redis as redis_server
        from batch.errors import ConfigError

        with contextlib.suppress(ConfigError):  # still down: the outage goes on being reported
            redis_server.ensure_redis(home, timeout=timeout)

    return revive


def database_check(url: str) -> Check:
    """``SELECT 1`` on the database."""
    from batch.store.db import answers

    return lambda: answers(url)


class Watch:
    """A daemon thread: run each named check every ``interval`` seconds and record it in ``reach``.

    ``say`` (if given) is called once per outage that outlasts the grace period, with the line
    naming it and since when, and once when it ends. ``revive[name]`` (if given) is called after
    each failed check of ``name``, once its failure is recorded.
    """

    def __init__(self, checks: dict[str, Check], reach: Reachability, *, interval: float = 1.0,
                 say: Callable[[str], None] | None = None,
                 revive: dict[str, Callable[[], None]] | None = None) -> None:
        self.checks = checks
        self.revive = revive or {}
        self.reach = reach
        self.interval = interval
        self.say = say
        self._said: dict[str, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="health-watch", daemon=True)

    def start(self) -> Watch:
        """Start watching."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop watching (returns once the thread has ended)."""
        self._stop.set()
        self._thread.join()

    def check_once(self) -> None:
        """Every check once, then what is worth saying."""
        for name, check in self.checks.items():
            began = self.reach.clock()
            if check():
                self.reach.ok(name)
                continue
            self.reach.failed(name, at=began)  # the outage began no later than this check did
            if name in self.revive:
                self.revive[name]()
        if self.say is not None:
            self._tell(self.say)

    def _tell(self, say: Callable[[str], None]) -> None:
        down = dict(self.reach.down())
        for name, since in down.items():
            if self._said.get(name) != since:
                self._said[name] = since
                say(self.reach.describe(name, since))
        for name in [n for n in self._said if n not in down and n not in self.reach.failing()]:
            say(f"{name} reachable again")
            del self._said[name]

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            self.check_once()
