"""Retry backoff and poll timing, as pure functions of their inputs.

No clock and no global random state here: callers pass the ages and a ``rand`` callable
returning a float in [0, 1), so every schedule is reproducible in a table-driven test.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

Rand = Callable[[], float]


def backoff_delay(attempt: int, rand: Rand, *, base: float = 1.0, cap: float = 60.0) -> float:
    """Delay before retry number ``attempt`` (1-based): exponential, "equal jitter", capped.

    Half of the exponential step is kept, the other half drawn at random, so retries of many
    jobs spread out without ever collapsing to zero.
    """
    step = min(cap, base * 2.0 ** max(0, attempt - 1))
    return step / 2 + rand() * step / 2


@dataclass(frozen=True)
class RuntimeEstimate:
    """How long upstream takes from submit to completion: a low and a high quantile."""

    low: float
    high: float
    samples: int = 0


# Before any job of the batch finished: up to the vendor's typical 40 s, checking early once.
PRIOR = RuntimeEstimate(low=2.0, high=40.0, samples=0)
MIN_SAMPLES = 5


def estimate_runtime(durations: Sequence[float], prior: RuntimeEstimate = PRIOR) -> RuntimeEstimate:
    """Learn the 5th and 95th percentile of observed durations; the prior until there are enough."""
    if len(durations) < MIN_SAMPLES:
        return prior
    ordered = sorted(durations)
    last = len(ordered) - 1
    low = ordered[int(0.05 * last)]
    high = ordered[round(0.95 * last)]
    return RuntimeEstimate(low=low, high=max(high, low), samples=len(ordered))


@dataclass(frozen=True)
class PollPolicy:
    """Knobs of the poll schedule (seconds)."""

    min_gap: float = 1.0
    max_gap: float = 30.0
    window_polls: float = 5.0          # polls spread across the expected [low, high] window
    seconds_per_queue_position: float = 2.0
    jitter: float = 0.1


def next_poll_delay(
    age: float,
    estimate: RuntimeEstimate,
    rand: Rand,
    *,
    queue_position: int | None = None,
    policy: PollPolicy = PollPolicy(),
) -> float:
    """Seconds from now until the next poll of a job submitted ``age`` seconds ago.

    Before the expected window opens, wait for it; inside, poll at an even gap that spreads
    ``window_polls`` polls across it; past it, back off geometrically up to ``max_gap``.
    A job waiting in the upstream queue is not asked again before its position can have moved.
    """
    gap = _clamp((estimate.high - estimate.low) / policy.window_polls, policy.min_gap, policy.max_gap)
    if age < estimate.low:
        delay = max(estimate.low - age, policy.min_gap)
    elif age <= estimate.high:
        delay = gap
    else:
        overdue_windows = (age - estimate.high) / max(estimate.high, policy.min_gap)
        delay = gap * 2 ** min(overdue_windows * 2, 5)
    if queue_position:
        delay = max(delay, queue_position * policy.seconds_per_queue_position)
    delay = _clamp(delay, policy.min_gap, policy.max_gap)
    return delay * (1 - policy.jitter + 2 * policy.jitter * rand())


def _clamp(value: float, low: float, high: float) -> float:
    return max(low, min(high, value))
