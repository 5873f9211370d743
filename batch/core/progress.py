"""Rate and ETA of a running batch, from timed observations of how many jobs have finished.

Pure: the caller passes the clock reading with each observation, so the estimates are
deterministic and tested from tables without sleeping.

The rate is measured over a recent window (default 30 s): from the newest observation back to
the last observation at or before the window's start (or the oldest one, early on). A batch
that was fast and then stalled shows its rate falling to zero within a window, and no ETA.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

DEFAULT_WINDOW = 30.0


@dataclass(frozen=True)
class Sample:
    """At clock time ``at``, ``finished`` jobs of the batch were terminal."""

    at: float
    finished: int


@dataclass(frozen=True)
class Estimate:
    """Jobs finished per second over the recent window, and seconds left (None when unknown)."""

    finished: int
    total: int
    rate: float | None
    eta: float | None

    @property
    def remaining(self) -> int:
        """Jobs not finished yet."""
        return max(self.total - self.finished, 0)


def _anchor(samples: Sequence[Sample], start: float) -> Sample:
    """The last sample at or before ``start``, else the oldest sample."""
    anchor = samples[0]
    for sample in samples:
        if sample.at > start:
            break
        anchor = sample
    return anchor


def estimate(samples: Sequence[Sample], total: int, *, window: float = DEFAULT_WINDOW) -> Estimate:
    """Rate and ETA from ``samples`` (oldest first), measured back from the newest one.

    No rate until two samples span some time; a rate of zero (or less: retried jobs leave the
    terminal states) gives no ETA; a finished batch has an ETA of zero.
    """
    if not samples:
        return Estimate(0, total, None, None)
    newest = samples[-1]
    remaining = max(total - newest.finished, 0)
    anchor = _anchor(samples, newest.at - window)
    span = newest.at - anchor.at
    rate = max(newest.finished - anchor.finished, 0) / span if span > 0 else None
    if remaining == 0:
        eta: float | None = 0.0
    elif rate:
        eta = remaining / rate
    else:
        eta = None
    return Estimate(newest.finished, total, rate, eta)


class RateTracker:
    """Keeps the samples a window needs and estimates on each new observation."""

    def __init__(self, total: int, *, window: float = DEFAULT_WINDOW) -> None:
        self.total = total
        self.window = window
        self._samples: deque[Sample] = deque()

    def observe(self, finished: int, now: float, total: int | None = None) -> Estimate:
        """Record ``finished`` jobs at clock time ``now``; return the current estimate."""
        if total is not None:
            self.total = total
        if self._samples and now < self._samples[-1].at:
            self._samples.clear()  # the clock went backwards: start over rather than guess
        self._samples.append(Sample(now, finished))
        start = now - self.window
        while len(self._samples) > 1 and self._samples[1].at <= start:
            self._samples.popleft()
        return estimate(list(self._samples), self.total, window=self.window)


def format_rate(rate: float | None) -> str:
    """``2.5/s``, ``0.25/s``; ``3.0/min`` or ``36.0/h`` for slow batches; ``-`` when unknown."""
    if rate is None:
        return "-"
    if rate == 0:
        return "0/s"
    if rate >= 1.0:
        return f"{rate:.1f}/s"
    if rate >= 0.1:
        return f"{rate:.2f}/s"
    if rate * 60 >= 1.0:
        return f"{rate * 60:.1f}/min"
    return f"{rate * 3600:.1f}/h"


def format_eta(seconds: float | None) -> str:
    """``45s``, ``12m05s``, ``3h20m``; ``-`` when unknown."""
    if seconds is None:
        return "-"
    whole = round(seconds)
    if whole < 60:
        return f"{whole}s"
    minutes, secs = divmod(whole, 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def iso_utc(at: float | None) -> str | None:
    """UNIX seconds as ISO-8601 UTC (``2025-01-31T12:00:00Z``); None stays None."""
    if at is None:
        return None
    return datetime.fromtimestamp(at, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
