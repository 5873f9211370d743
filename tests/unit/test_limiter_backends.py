"""The in-memory limiter backend answers as the Redis scripts do: the Redis scenarios of
``test_limiter`` run again here against ``MemoryLimiter`` (same fake clock, same randomness)."""

from __future__ import annotations

import pytest

from batch.upstream.limiter import Capacity, MemoryBackend, MemoryLimiter, PlannedCall, Rates, SharedLimiter
from tests.unit import test_limiter as scenarios
from tests.unit.test_limiter import Clock


class TtlClock:
    """The store's own time (Redis's wall clock, in Redis), moved by hand apart from the limiter's."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def ttl_clock() -> TtlClock:
    return TtlClock()


@pytest.fixture
def limiter(clock: Clock, ttl_clock: TtlClock) -> MemoryLimiter:
    return MemoryLimiter(clock=clock, rand=lambda: 0.5, ttl_clock=ttl_clock)


# the scenarios collected here use this module's ``limiter`` and ``clock`` fixtures
test_at_most_rate_calls_in_any_second = scenarios.test_at_most_rate_calls_in_any_second
test_submits_have_their_own_ceiling_inside_the_all_calls_one = (
    scenarios.test_submits_have_their_own_ceiling_inside_the_all_calls_one)
test_slow_rates_get_one_call_per_longer_window = scenarios.test_slow_rates_get_one_call_per_longer_window
test_a_429_pauses_everyone_for_retry_after = scenarios.test_a_429_pauses_everyone_for_retry_after
test_without_retry_after_the_pause_backs_off_per_episode = (
    scenarios.test_without_retry_after_the_pause_backs_off_per_episode)
test_the_cap_halves_what_got_through_then_climbs_to_ninety_percent = (
    scenarios.test_the_cap_halves_what_got_through_then_climbs_to_ninety_percent)
test_a_second_429_aims_lower_again = scenarios.test_a_second_429_aims_lower_again
test_a_429_with_too_little_history_only_pauses = scenarios.test_a_429_with_too_little_history_only_pauses
test_pacing_spreads_calls_a_little_under_the_ceiling = scenarios.test_pacing_spreads_calls_a_little_under_the_ceiling
test_pacing_honours_due_times_and_the_pause = scenarios.test_pacing_honours_due_times_and_the_pause
test_submits_with_their_own_ceiling_do_not_wait_behind_polls = (
    scenarios.test_submits_with_their_own_ceiling_do_not_wait_behind_polls)


def test_two_limiters_on_one_backend_share_the_pause(limiter: MemoryLimiter, clock: Clock) -> None:
    other = SharedLimiter(limiter.backend, clock=clock)  # another worker thread of the same process
    scenarios.grants(limiter, "status", Rates(40), 40)
    limiter.rate_limited(1.0)
    assert other.acquire("status", Rates(40)) == pytest.approx(1.0)
    assert other.state()["cap"] == pytest.approx(20.0)


def test_entries_expire_in_the_store_time_not_the_limiter_clock(
        limiter: MemoryLimiter, clock: Clock, ttl_clock: TtlClock) -> None:
    limiter.rate_limited(None)
    clock.now += 100.0  # the limiter's clock alone: the streak is still there (quiet is 60 s of store time)
    limiter.rate_limited(None)
    assert limiter.state()["pause"] == pytest.approx(1.5)
    clock.now += 100.0
    ttl_clock.now += limiter.policy.quiet + 1  # the store's time: the streak, pause and logs expire
    limiter.rate_limited(None)
    assert limiter.state()["pause"] == pytest.approx(0.75)


def test_the_cursor_is_forgotten_after_ten_idle_minutes(clock: Clock, ttl_clock: TtlClock) -> None:
    backend = MemoryBackend(ttl_clock=ttl_clock)
    limiter = SharedLimiter(backend, clock=clock)
    rates = Rates(1)
    limiter.plan([PlannedCall("status", 0.0, rates)] * 5)
    assert limiter.capacity(rates, 1.0) == Capacity(0, 0)
    ttl_clock.now += 601.0
    assert limiter.capacity(rates, 1.0) == Capacity(1, 1)
