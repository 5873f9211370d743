"""Progress for a log file: when stdout is not a terminal, ``run`` and ``resume`` print a plain line
every tenth of the batch or every minute, whichever comes first, instead of redrawing a bar.

The clock is passed in with each observation, so when a line is due is tested without sleeping.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from batch.core.progress import Estimate, format_eta, format_rate

EVERY_SECONDS = 60.0
EVERY_FRACTION = 0.1


@dataclass
class PlainLines:
    """Decides when a progress line is due and writes it through ``write``."""

    write: Callable[[str], None]
    every_seconds: float = EVERY_SECONDS
    every_fraction: float = EVERY_FRACTION
    _last_at: float | None = None
    _last_step: int = -1
    _said: set[str] = field(default_factory=set)

    def observe(self, now: float, est: Estimate, counts: str, cost: float, *, final: bool = False) -> bool:
        """Write a line if one is due (the first, a new tenth, a minute since the last, or ``final``)."""
        step = int(est.finished / est.total / self.every_fraction) if est.total else 0
        due = (final or self._last_at is None or step > self._last_step
               or now - self._last_at >= self.every_seconds)
        if not due:
            return False
        self._last_at, self._last_step = now, step
        share = f" ({100 * est.finished // est.total}%)" if est.total else ""
        self.write(f"{est.finished}/{est.total} jobs done{share}; {counts or 'no jobs'}; ${cost:.2f} spent; "
                   f"{format_rate(est.rate)}; ETA {format_eta(est.eta)}")
        return True

    def note(self, key: str, text: str) -> None:
        """A warning on a line of its own, once per ``key`` (one outage)."""
        if key not in self._said:
            self._said.add(key)
            self.write(text)
