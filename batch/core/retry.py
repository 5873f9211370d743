"""What to do after a failed attempt: try again after a delay, or give up. A pure decision.

The job steps (an API call or a download that failed in a retryable way) and the batch-end
notifications (a webhook or command that did not go through) both ask ``decide`` and act on the
value it returns; neither computes a delay or counts attempts itself. The backoff curve is
``timing.backoff_delay``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from batch.core.timing import Rand, backoff_delay


@dataclass(frozen=True)
class Retry:
    """Try again in ``delay`` seconds."""

    delay: float


@dataclass(frozen=True)
class GiveUp:
    """The attempts are spent: record ``message`` and stop trying."""

    message: str


Decision = Retry | GiveUp


def decide(attempts: int, max_attempts: int, rand: Rand, retry_after: float | None = None, *,
           error: str = "", base: float = 1.0, cap: float = 60.0) -> Decision:
    """The decision after the ``attempts``-th failed attempt (1-based) out of at most ``max_attempts``.

    ``rand`` draws the backoff's jitter (``backoff_delay``, from ``base`` up to ``cap``); a
    ``rand`` that returns 1.0 gives the whole step, with no jitter. A ``retry_after`` from the
    server (seconds, finite and not negative) is a floor on the delay. ``error`` is what failed,
    quoted in the give-up message.
    """
    if attempts >= max_attempts:
        return GiveUp(f"gave up after {attempts} attempts: {error}")
    delay = backoff_delay(attempts, rand, base=base, cap=cap)
    if retry_after is not None and math.isfinite(retry_after) and retry_after >= 0:
        delay = max(delay, retry_after)
    return Retry(delay)
