"""Injected faults and limits, all drawn from one seeded ``random.Random`` (reproducible).

The draws happen in a fixed order for each /v1 call (error, then drop, then slow, each only when
its rate is above zero) and for each accepted job (run time, then failure), so a run with the same
``--seed`` and the same sequence of calls makes the same decisions.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

from batch.simulator.config import SimulatorConfig


@dataclass(frozen=True)
class CallFaults:
    """What to do to one /v1 call: answer 503, close the connection, or answer late."""

    error: bool = False
    drop: bool = False
    slow: bool = False


class TokenBucket:
    """Per-token rate limit: ``rate`` requests per second, bursts of up to ``max(1, rate)``."""

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self.capacity = max(1.0, rate)
        self._buckets: dict[str, tuple[float, float]] = {}

    def take(self, token: str, now: float) -> int | None:
        """Spend one request for ``token``; None when allowed, else whole seconds to wait (>= 1)."""
        tokens, last = self._buckets.get(token, (self.capacity, now))
        tokens = min(self.capacity, tokens + (now - last) * self.rate)
        if tokens >= 1.0:
            self._buckets[token] = (tokens - 1.0, now)
            return None
        self._buckets[token] = (tokens, now)
        return max(1, math.ceil((1.0 - tokens) / self.rate))


class Faults:
    """The fault dice and limiters for one simulator instance."""

    def __init__(self, config: SimulatorConfig) -> None:
        self.config = config
        self.rng = random.Random(config.seed)
        self.limiter = TokenBucket(config.rate_limit) if config.rate_limit else None

    def _hit(self, rate: float) -> bool:
        return rate > 0 and self.rng.random() < rate

    def for_call(self) -> CallFaults:
        """Decide the faults of one /v1 call (a 503 excludes a drop or a delay)."""
        c = self.config
        if c.error_rate == 0 and c.drop_rate == 0 and c.slow_rate == 0:
            return CallFaults()
        if self._hit(c.error_rate):
            return CallFaults(error=True)
        drop = self._hit(c.drop_rate)
        slow = self._hit(c.slow_rate)
        return CallFaults(drop=drop, slow=slow and not drop)

    def rate_limited(self, token: str, now: float) -> int | None:
        """Retry-After seconds when ``token`` is over ``--rate-limit``, else None."""
        return None if self.limiter is None else self.limiter.take(token, now)

    def run_time(self) -> float:
        """A job's run time in seconds, uniform in ``--latency``."""
        low, high = self.config.latency
        return low if high == low else self.rng.uniform(low, high)

    def slow_download(self) -> bool:
        """Whether this output download is trickled out slowly (``--slow-download-rate``)."""
        return self._hit(self.config.slow_download_rate)

    def job_fails(self) -> bool:
        """Whether a new job is doomed to end failed (``--fail-rate``)."""
        return self._hit(self.config.fail_rate)
