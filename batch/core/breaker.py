"""The circuit breaker's rules, pure: which failures no retry can fix, and when failing calls add up.

A setup error (the API base unreachable, the token refused, the balance spent) fails every job the same way: the
batch is paused with one reason instead of burning each job's attempts. ``setup_problem`` tells
such an error at once; ``Breaker`` trips when every one of the last ``window`` API calls failed
(rate limits aside: those are the API asking us to slow down, not failing).
"""

from __future__ import annotations

import threading
from collections import deque

from batch import errors

DEFAULT_WINDOW = 20


def setup_problem(exc: Exception, api_base: str) -> str | None:
    """One line naming what is wrong and what to fix, when retrying ``exc`` cannot help; else None."""
    if isinstance(exc, errors.AuthError):
        status = f"HTTP {exc.status}" if exc.status else "refused"
        return (f"the API at {api_base} refused the token ({status}): check RUNCOMFY_API_TOKEN "
                "(or RUNCOMFY_API_TOKEN_FILE)")
    if isinstance(exc, errors.PaymentRequired):
        return (f"the API at {api_base} refused the submit: the account's balance is spent (HTTP 402): "
                "top up the balance")
    if isinstance(exc, errors.NotDelivered) and exc.unreachable:
        return f"cannot reach the API at {api_base} ({exc.unreachable}): check RUNCOMFY_API_BASE"
    return None


class Breaker:
    """The outcomes of the last ``window`` API calls of this process; trips when all of them failed."""

    def __init__(self, window: int = DEFAULT_WINDOW) -> None:
        if window < 1:
            raise ValueError(f"a breaker needs a window of at least one call, got {window}")
        self.window = window
        self._failed: deque[bool] = deque(maxlen=window)
        self._lock = threading.Lock()

    def succeeded(self) -> None:
        """Count a call that was answered."""
        with self._lock:
            self._failed.append(False)

    def failed(self, exc: Exception, api_base: str) -> str | None:
        """Count a failed call; the reason to pause when it trips the breaker, else None."""
        problem = setup_problem(exc, api_base)
        if isinstance(exc, errors.RateLimited):
            return problem
        with self._lock:
            self._failed.append(True)
            tripped = len(self._failed) == self.window and all(self._failed)
            if tripped:
                self._failed.clear()  # after a resume, count afresh
        if problem is None and tripped:
            problem = (f"the last {self.window} calls to the API at {api_base} all failed (the last: {exc}): "
                       "check that the service is up and RUNCOMFY_API_BASE is right")
        return problem
