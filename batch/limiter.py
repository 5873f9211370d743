"""One API budget shared by every worker on every machine.

Strategies are small classes behind one ``acquire()``: it answers 0 when the call may go now,
or how many seconds to wait before asking again. Callers never sleep on it; they reschedule the
job. ``RedisLimiter`` keeps its windows in Redis (via the ``limits`` library's moving window),
a global pause after a 429, and an AIMD factor that lowers the effective rate after 429s and
creeps back up on success, so that a limit set too high heals itself.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import redis
from limits import RateLimitItem, RateLimitItemPerSecond
from limits.storage import RedisStorage
from limits.strategies import MovingWindowRateLimiter

from batch.redis_urls import limits_url

Clock = Callable[[], float]
PAUSE_KEY = "nanobatch:limiter:pause_until"
FACTOR_KEY = "nanobatch:limiter:factor"


@dataclass(frozen=True)
class Rates:
    """Per-second ceilings for all API calls and for submits (None: no separate ceiling)."""

    requests_per_second: float
    submits_per_second: float | None = None

    def lowest(self, other: Rates | None) -> Rates:
        """The tighter of two rate settings, field by field."""
        if other is None:
            return self
        sps = [r for r in (self.submits_per_second, other.submits_per_second) if r]
        return Rates(min(self.requests_per_second, other.requests_per_second), min(sps) if sps else None)


class Limiter(Protocol):
    """What the workers need from a rate-limit strategy."""

    def acquire(self, kind: str, rates: Rates) -> float:
        """0.0 if a call of ``kind`` ('submit', 'status', 'result', 'cancel') may go now, else a wait."""

    def rate_limited(self, retry_after: float | None) -> None:
        """Upstream answered 429: pause everyone and lower the rate."""

    def succeeded(self) -> None:
        """A call went through: let the rate recover a little."""


class NullLimiter:
    """Grants everything: for in-process tests and unlimited runs."""

    def acquire(self, kind: str, rates: Rates) -> float:
        """Always 0: go."""
        return 0.0

    def rate_limited(self, retry_after: float | None) -> None:
        """Nothing to pause."""

    def succeeded(self) -> None:
        """Nothing to adjust."""


def per_second_item(rate: float) -> RateLimitItem:
    """A ``limits`` item allowing at most ``rate`` calls in any 1-second window (any N-second one below 1/s)."""
    if rate >= 1:
        return RateLimitItemPerSecond(math.floor(rate), 1)
    return RateLimitItemPerSecond(1, math.ceil(1 / rate))


class RedisLimiter:
    """The shared limiter: moving windows, pause and AIMD factor, all kept in Redis."""

    def __init__(self, url: str, *, clock: Clock = time.time, min_factor: float = 0.2,
                 decrease: float = 0.5, increase: float = 0.01, default_pause: float = 2.0) -> None:
        self._redis = redis.Redis.from_url(url)
        self._window = MovingWindowRateLimiter(RedisStorage(limits_url(url)))
        self._clock = clock
        self._min_factor = min_factor
        self._decrease = decrease
        self._increase = increase
        self._default_pause = default_pause

    def acquire(self, kind: str, rates: Rates) -> float:
        """Check the pause, then the all-calls window, then (for submits) the submit window."""
        pause_until, factor = self._redis.mget(PAUSE_KEY, FACTOR_KEY)
        now = self._clock()
        if pause_until is not None and float(pause_until) > now:
            return float(pause_until) - now
        scale = float(factor) if factor is not None else 1.0
        windows = [("api", rates.requests_per_second)]
        if kind == "submit" and rates.submits_per_second:
            windows.append(("submit", rates.submits_per_second))
        for name, rate in windows:
            item = per_second_item(max(rate * scale, 0.05))
            if not self._window.hit(item, name):
                reset = self._window.get_window_stats(item, name).reset_time
                return max(0.05, reset - now)
        return 0.0

    def rate_limited(self, retry_after: float | None) -> None:
        """Pause all workers for Retry-After (or a default) and halve the rate factor once per pause."""
        now = self._clock()
        pause = retry_after if retry_after is not None else self._default_pause
        with self._redis.pipeline() as pipe:
            pipe.get(PAUSE_KEY)
            pipe.get(FACTOR_KEY)
            current_pause, factor = pipe.execute()
        already_paused = current_pause is not None and float(current_pause) > now
        new_until = max(now + pause, float(current_pause or 0))
        self._redis.set(PAUSE_KEY, repr(new_until), px=int(max(pause, 0.001) * 1000) + 60_000)
        if not already_paused:
            scale = float(factor) if factor is not None else 1.0
            self._redis.set(FACTOR_KEY, repr(max(self._min_factor, scale * self._decrease)))

    def succeeded(self) -> None:
        """Additive increase of the factor back towards 1."""
        factor = self._redis.get(FACTOR_KEY)
        if factor is not None and float(factor) < 1.0:
            self._redis.set(FACTOR_KEY, repr(min(1.0, float(factor) + self._increase)))
