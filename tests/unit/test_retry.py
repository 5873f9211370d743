"""The retry decision: back off and try again, or give up once the attempts are spent."""

from __future__ import annotations

import pytest

from batch.core.retry import Decision, GiveUp, Retry, decide

INF = float("inf")
NAN = float("nan")


@pytest.mark.parametrize(
    ("attempts", "max_attempts", "rand", "retry_after", "expected"),
    [
        (1, 5, 0.0, None, Retry(0.5)),          # half of the first step kept, half drawn
        (1, 5, 1.0, None, Retry(1.0)),          # rand 1.0: the whole step, no jitter
        (3, 5, 0.5, None, Retry(3.0)),
        (4, 5, 0.0, None, Retry(4.0)),          # the last retry
        (5, 5, 0.0, None, GiveUp("gave up after 5 attempts: boom")),
        (9, 5, 0.0, None, GiveUp("gave up after 9 attempts: boom")),
        (1, 1, 0.0, 30.0, GiveUp("gave up after 1 attempts: boom")),  # Retry-After does not buy an attempt
        (1, 5, 0.0, 30.0, Retry(30.0)),         # the server's Retry-After is a floor ...
        (3, 5, 1.0, 0.5, Retry(4.0)),           # ... never a ceiling
        (1, 5, 0.0, 0.0, Retry(0.5)),
        (1, 5, 0.0, -3.0, Retry(0.5)),          # nonsense from the server is ignored
        (1, 5, 0.0, INF, Retry(0.5)),
        (1, 5, 0.0, NAN, Retry(0.5)),
    ],
)
def test_decide(attempts: int, max_attempts: int, rand: float, retry_after: float | None, expected: Decision) -> None:
    assert decide(attempts, max_attempts, lambda: rand, retry_after, error="boom") == expected


@pytest.mark.parametrize(
    ("attempts", "base", "cap", "expected"),
    [
        (1, 30.0, 3600.0, 30.0),    # the notifications' schedule: base, 2x base, 4x base ...
        (2, 30.0, 3600.0, 60.0),
        (3, 10.0, 3600.0, 40.0),
        (9, 30.0, 3600.0, 3600.0),  # ... capped
    ],
)
def test_decide_without_jitter_follows_base_and_cap(attempts: int, base: float, cap: float, expected: float) -> None:
    assert decide(attempts, 10, lambda: 1.0, base=base, cap=cap) == Retry(expected)
