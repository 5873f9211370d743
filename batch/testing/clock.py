"""A clock a test moves by hand, for everything that takes ``clock: Callable[[], float]``."""

from __future__ import annotations


class ManualClock:
    """Stands still until ``advance``: timing logic is tested without sleeping."""

    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        """The current time, in seconds."""
        return self.now

    def advance(self, seconds: float) -> None:
        """Move the time on by ``seconds``."""
        self.now += seconds
