"""A child process kept running: started again when it dies, and said so; stopped on request.

A worker keeps its beat this way (``workers.app``), and ``run`` its worker (``batch.cli.local``).
Before, a beat killed inside a worker stayed a zombie and the batch stopped moving without a
word, and a killed worker ended ``run``. A child that keeps dying is started again after a
backoff that doubles (a broken one would otherwise be restarted many times a second), and at
most ``max_restarts`` times in a row when a limit is given; one that ran ``STEADY`` seconds
starts the count afresh. The clock is injectable for tests.
"""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Callable

from batch.embedded.children import stop_child

FIRST_BACKOFF = 0.0   # the first restart is at once: a lost beat or worker is lost progress
NEXT_BACKOFF = 1.0    # then 1 s, doubled while it keeps dying
MAX_BACKOFF = 30.0
KEEPER_WORDS = "stopped unexpectedly"  # in every message about a child replaced or given up on
STEADY = 60.0         # a child that ran this long resets the backoff and the count of restarts


def how_it_ended(code: int) -> str:
    """An exit status in words: ``killed by SIGKILL`` or ``exit code 3``."""
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit code {code}"


class Keeper:
    """Keeps the child ``start()`` returns running; ``check()`` it every so often.

    ``what``: the child's name in messages ("the beat"); ``say``: where the messages go.
    """

    def __init__(self, what: str, start: Callable[[], subprocess.Popen[bytes]], say: Callable[[str], None], *,
                 max_restarts: int | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        self.what = what
        self._start = start
        self.say = say
        self.max_restarts = max_restarts
        self.clock = clock
        self.restarts = 0       # in a row (see STEADY)
        self.gave_up = False
        self.stopped = False
        self._backoff = FIRST_BACKOFF
        self._restart_at: float | None = None
        self.proc = start()
        self._started_at = clock()

    @property
    def pid(self) -> int:
        """The current child's process id."""
        return self.proc.pid

    def alive(self) -> bool:
        """True while the current child runs."""
        return self.proc.poll() is None

    def check(self) -> bool:
        """Start the child again if it died (when its backoff has passed); False once given up."""
        code = self.proc.poll()
        if code is None or self.stopped:
            return True
        if self.gave_up:
            return False
        now = self.clock()
        if now - self._started_at >= STEADY:
            self.restarts, self._backoff = 0, FIRST_BACKOFF
        if self.max_restarts is not None and self.restarts >= self.max_restarts:
            self.gave_up = True
            self.say(f"{self.what} (pid {self.proc.pid}) stopped unexpectedly ({how_it_ended(code)}) "
                     f"{self.restarts + 1} times in a row; giving up")
            return False
        if self._restart_at is None:
            self._restart_at = now + self._backoff
            self._backoff = min(max(self._backoff * 2, NEXT_BACKOFF), MAX_BACKOFF)
        if now < self._restart_at:
            return True
        old = self.proc.pid
        self.proc = self._start()
        self._started_at, self._restart_at = now, None
        self.restarts += 1
        self.say(f"{self.what} (pid {old}) stopped unexpectedly ({how_it_ended(code)}); "
                 f"started another (pid {self.proc.pid})")
        return True

    def stop(self, timeout: float) -> None:
        """SIGTERM, then SIGKILL if the child has not exited within ``timeout`` seconds; no restart after."""
        self.stopped = True
        stop_child(self.proc, timeout)
