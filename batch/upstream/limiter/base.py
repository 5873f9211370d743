"""The limiter's vocabulary: rates, capacities, planned calls, the policy knobs, and the protocol
every limiter implements (plus ``NullLimiter``, which grants everything)."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

Clock = Callable[[], float]
UNLIMITED = 1_000_000


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


@dataclass(frozen=True)
class Capacity:
    """How many calls the pacing has room for in the coming horizon: all calls, and submits."""

    calls: int
    submits: int


@dataclass(frozen=True)
class PlannedCall:
    """A call the tick wants to make: its kind, when it is due (seconds from now) and its rates."""

    kind: str
    due_in: float
    rates: Rates


@dataclass(frozen=True)
class LimiterPolicy:
    """Knobs of the pacing and of the 429 response."""

    pace: float = 0.97         # planned calls go at this fraction of the ceiling
    guard: float = 0.0         # the hard windows are this much longer than 1 s (jitter on the way upstream)
    decrease: float = 0.5      # after a 429 the cap drops to this fraction of what got through
    headroom: float = 0.9      # ... and climbs back to this fraction of it (squared for a 2nd 429, ...)
    ramp: float = 10.0         # seconds of the climb
    memory: float = 300.0      # seconds the cap is kept after the last 429
    min_rate: float = 0.5      # the cap never goes below this
    observe: float = 1.0       # seconds of history that say what got through
    min_observed: int = 5      # fewer grants than this in the history: pause only, no cap
    pause_base: float = 1.0    # backoff without Retry-After: base and ceiling of the pause
    pause_cap: float = 60.0
    quiet: float = 60.0        # 429 episodes closer than this count as one streak (for the backoff)


class Limiter(Protocol):
    """What the tick and the workers need from a rate-limit strategy."""

    def acquire(self, kind: str, rates: Rates) -> float:
        """0.0 if a call of ``kind`` ('submit', 'status', 'result', 'cancel') may go now, else a wait."""

    def rate_limited(self, retry_after: float | None) -> None:
        """Upstream answered 429: pause everyone and lower the rate."""

    def succeeded(self) -> None:
        """A call went through (kept for callers; the cap recovers with time, not per call)."""

    def capacity(self, rates: Rates, horizon: float) -> Capacity:
        """How many calls (and submits) fit in the next ``horizon`` seconds of the pacing."""

    def plan(self, calls: Sequence[PlannedCall]) -> list[float]:
        """Seconds from now at which each call should go, paced, in order; reserves those slots."""


class NullLimiter:
    """Grants everything: for in-process tests and unlimited runs."""

    def acquire(self, kind: str, rates: Rates) -> float:
        """Always 0: go."""
        return 0.0

    def rate_limited(self, retry_after: float | None) -> None:
        """Nothing to pause."""

    def succeeded(self) -> None:
        """Nothing to adjust."""

    def capacity(self, rates: Rates, horizon: float) -> Capacity:
        """No limit."""
        return Capacity(UNLIMITED, UNLIMITED)

    def plan(self, calls: Sequence[PlannedCall]) -> list[float]:
        """Each call when it is due."""
        return [max(0.0, c.due_in) for c in calls]


def window_for(rate: float, guard: float = 0.0) -> tuple[float, int]:
    """The moving window for ``rate``: (seconds, calls), at most ``rate`` calls in any 1 s (or 1 per 1/rate s).

    ``guard`` lengthens the window a little, so that jitter on the way upstream cannot squeeze
    ``rate + 1`` calls into one of upstream's seconds.
    """
    if rate >= 1:
        return 1.0 + guard, math.floor(rate + 1e-9)
    return (1.0 + guard) / rate, 1
