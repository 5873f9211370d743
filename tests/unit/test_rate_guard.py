"""The rate must hold in every 1-s window as upstream sees it (issue 23), not only in the
limiter's own grant log: a call reaches upstream some milliseconds after its grant (the submit's
write-ahead transaction, the network, a starved CPU), and the configured guard absorbs that."""

from __future__ import annotations

import bisect
import random
from pathlib import Path

from batch.config import load_settings
from batch.engine.runtime import limiter_policy
from batch.testing.clock import ManualClock
from batch.upstream.limiter import MemoryLimiter, Rates

RATE = 20.0
JITTER = 0.08   # seconds between a grant and the call's arrival upstream, at most
SECONDS = 10.0
STEP = 0.001


def busiest_second(arrivals: list[float]) -> int:
    """The most arrivals in any half-open 1-s window [a, a + 1)."""
    times = sorted(arrivals)
    return max(bisect.bisect_left(times, t + 1.0) - i for i, t in enumerate(times))


def upstream_arrivals(env: dict[str, str]) -> tuple[list[float], int]:
    """Greedy callers for ``SECONDS``: every grant reaches upstream up to ``JITTER`` late."""
    clock, jitter = ManualClock(), random.Random(23)
    limiter = MemoryLimiter(clock=clock, rand=lambda: 0.5, ttl_clock=clock,
                            policy=limiter_policy(load_settings(env)))
    start, arrivals = clock.now, []
    while clock.now < start + SECONDS:
        while limiter.acquire("status", Rates(RATE)) == 0.0:
            arrivals.append(clock.now + jitter.uniform(0.0, JITTER))
        clock.advance(STEP)
    return arrivals, len(arrivals)


def test_jittered_arrivals_never_exceed_the_rate_in_any_upstream_second(tmp_path: Path) -> None:
    arrivals, granted = upstream_arrivals({"NANOBATCH_HOME": str(tmp_path)})
    assert busiest_second(arrivals) <= RATE
    assert granted >= 0.85 * RATE * SECONDS  # the guard costs a little throughput, not most of it


def test_the_guard_is_a_setting(tmp_path: Path) -> None:
    env = {"NANOBATCH_HOME": str(tmp_path), "NANOBATCH_RATE_GUARD_SECONDS": "0.25"}
    assert limiter_policy(load_settings(env)).guard == 0.25
