"""The rate-limit strategy, apart from where its state lives.

``SharedLimiter`` decides *what* to ask: which moving windows a call of some kind must pass, how
long the grant logs are kept, the backoff and cap parameters of a 429, the pacing of the tick's
calls. A ``Backend`` answers each question in one atomic step against the shared state: the
Redis backend in one script call (one round trip), the memory backend under a lock.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from typing import Protocol
from uuid import uuid4

from batch.upstream.limiter.base import Capacity, Clock, LimiterPolicy, PlannedCall, Rates, window_for

# one moving window to pass: the name of its grant log ('api' or 'submit') and its rate per second
Window = tuple[str, float]
# one call to pace: (is it a submit?, due in seconds, all-calls rate, submit rate or 0 for none)
PaceRequest = tuple[bool, float, float, float]


class Backend(Protocol):
    """Five atomic operations on the limiter's shared state. ``now`` None: the backend's own clock."""

    def take(self, now: float | None, windows: Sequence[Window], keep: float, guard: float, member: str) -> float:
        """0.0 and a grant recorded in every window's log, or the seconds to wait (pause or full window)."""

    def penalize(self, now: float | None, retry_after: float | None, rand: float, policy: LimiterPolicy) -> None:
        """A 429: set or extend the pause; once per episode, cap the rate below what got through."""

    def room(self, now: float | None, horizon: float, pace: float, rate: float, submit_rate: float) -> tuple[int, int]:
        """Paced slots (all calls, submits) left before ``now + horizon``."""

    def reserve(self, now: float | None, pace: float, calls: Sequence[PaceRequest]) -> list[float]:
        """Paced start times (seconds from now) for ``calls`` in order, moving the shared cursors."""

    def peek(self, now: float | None) -> tuple[float, float | None]:
        """The pause left (seconds) and the current cap (None: no cap)."""


class SharedLimiter:
    """The limiter the tick and the steps use: moving windows, pacing, pause and AIMD cap."""

    def __init__(self, backend: Backend, *, clock: Clock | None = None,
                 rand: Callable[[], float] = random.random, policy: LimiterPolicy | None = None) -> None:
        self.backend = backend
        self._clock = clock
        self._rand = rand
        self.policy = policy or LimiterPolicy()

    @property
    def _pace(self) -> float:
        # planned calls never go faster than the guarded windows let them through
        return min(self.policy.pace, 1.0 / (1.0 + self.policy.guard))

    def _now(self) -> float | None:
        return None if self._clock is None else self._clock()

    def acquire(self, kind: str, rates: Rates) -> float:
        """Check the pause, the all-calls window and (for submits) the submit window; 0 or the wait."""
        windows: list[Window] = [("api", rates.requests_per_second)]
        if kind == "submit" and rates.submits_per_second:
            windows.append(("submit", rates.submits_per_second))
        # the logs are kept as long as the longest window, and at least as long as the 429 looks back
        keep = max([self.policy.observe] + [window_for(rate, self.policy.guard)[0] for _, rate in windows])
        return self.backend.take(self._now(), windows, keep, self.policy.guard, uuid4().hex)

    def rate_limited(self, retry_after: float | None) -> None:
        """Pause all workers and, once per episode, cap the rate below what was getting through."""
        wait = None if retry_after is None else max(0.0, retry_after)
        self.backend.penalize(self._now(), wait, self._rand(), self.policy)

    def succeeded(self) -> None:
        """Nothing to do: the cap climbs back with time (no round trip per call)."""

    def capacity(self, rates: Rates, horizon: float) -> Capacity:
        """Paced slots left in the next ``horizon`` seconds, for all calls and for submits."""
        calls, submits = self.backend.room(self._now(), horizon, self._pace, rates.requests_per_second,
                                           rates.submits_per_second or 0)
        return Capacity(calls, submits)

    def plan(self, calls: Sequence[PlannedCall]) -> list[float]:
        """Reserve paced start times for ``calls`` (in this order); seconds from now."""
        if not calls:
            return []
        asks = [(c.kind == "submit", c.due_in, c.rates.requests_per_second, c.rates.submits_per_second or 0)
                for c in calls]
        return self.backend.reserve(self._now(), self._pace, asks)

    def state(self) -> dict[str, float | None]:
        """The pause left and the current cap (for reports and tests)."""
        pause, cap = self.backend.peek(self._now())
        return {"pause": pause, "cap": cap}
