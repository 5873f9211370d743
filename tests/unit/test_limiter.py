"""The shared limiter against a real Redis (embedded, or the one NANOBATCH_TEST_REDIS_URL names),
driven by a fake clock: windows, pacing, the 429 pause and the AIMD cap, with no sleeping."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from batch.config import Settings
from batch.embedded.redis import CAP_KEY, PAUSE_KEY
from batch.engine.runtime import Runtime
from batch.store.models import Batch
from batch.upstream.limiter import (
    UNLIMITED,
    Capacity,
    LimiterPolicy,
    NullLimiter,
    PlannedCall,
    Rates,
    RedisLimiter,
    window_for,
)


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, now: float = 1_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def url(request: pytest.FixtureRequest) -> Iterator[str]:
    """A flushed Redis database."""
    found = os.environ.get("NANOBATCH_TEST_REDIS_URL") or request.getfixturevalue("embedded_redis")
    redis.Redis.from_url(found).flushdb()
    yield found


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def limiter(url: str, clock: Clock) -> RedisLimiter:
    return RedisLimiter(url, clock=clock, rand=lambda: 0.5)


def grants(limiter: RedisLimiter, kind: str, rates: Rates, tries: int) -> list[float]:
    return [limiter.acquire(kind, rates) for _ in range(tries)]


@pytest.mark.parametrize(
    ("mine", "other", "expected"),
    [
        (Rates(10, None), None, Rates(10, None)),
        (Rates(10, None), Rates(20, 5), Rates(10, 5)),
        (Rates(10, 4), Rates(20, 5), Rates(10, 4)),
        (Rates(30, 8), Rates(20, None), Rates(20, 8)),
    ],
)
def test_lowest_rates_win_field_by_field(mine: Rates, other: Rates | None, expected: Rates) -> None:
    assert mine.lowest(other) == expected


@pytest.mark.parametrize(
    ("config", "manifest", "expected"),
    [
        ((10.0, None), (None, None), Rates(10, None)),
        ((10.0, None), (5.0, None), Rates(5, None)),
        ((10.0, 3.0), (20.0, 5.0), Rates(10, 3)),
        ((10.0, None), (None, 2.0), Rates(10, 2)),
        ((10.0, 4.0), (None, 2.0), Rates(10, 2)),
    ],
)
def test_runtime_rates_for_takes_the_lowest_of_configuration_and_manifest(
        config: tuple[float, float | None], manifest: tuple[float | None, float | None], expected: Rates) -> None:
    settings = Settings(home=Path("."), requests_per_second=config[0], submits_per_second=config[1])
    rt = Runtime(settings=settings, sessions=None, client=None, limiter=NullLimiter(), http=None)  # type: ignore[arg-type]
    batch = Batch(requests_per_second=manifest[0], submits_per_second=manifest[1])
    assert rt.rates_for(batch) == expected


@pytest.mark.parametrize(("rate", "window"), [(20, (1.0, 20)), (2.5, (1.0, 2)), (1, (1.0, 1)), (0.5, (2.0, 1))])
def test_window_for(rate: float, window: tuple[float, int]) -> None:
    assert window_for(rate) == window


def test_null_limiter_grants_everything_when_due() -> None:
    null = NullLimiter()
    assert null.acquire("submit", Rates(1)) == 0.0
    assert null.capacity(Rates(1), 1.0) == Capacity(UNLIMITED, UNLIMITED)
    assert null.plan([PlannedCall("status", 0.3, Rates(1)), PlannedCall("submit", -2, Rates(1))]) == [0.3, 0.0]


def test_at_most_rate_calls_in_any_second(limiter: RedisLimiter, clock: Clock) -> None:
    rates = Rates(20)
    assert grants(limiter, "status", rates, 20) == [0.0] * 20
    assert limiter.acquire("result", rates) == pytest.approx(1.0)
    clock.now += 0.999
    assert limiter.acquire("status", rates) == pytest.approx(0.001)
    clock.now += 0.001
    assert limiter.acquire("status", rates) == 0.0  # the window slid past the first 20 (all at t=1000)


def test_submits_have_their_own_ceiling_inside_the_all_calls_one(limiter: RedisLimiter, clock: Clock) -> None:
    rates = Rates(10, 3)
    assert grants(limiter, "submit", rates, 4) == [0.0, 0.0, 0.0, pytest.approx(1.0)]
    assert grants(limiter, "status", rates, 8) == [0.0] * 7 + [pytest.approx(1.0)]  # 3 submits + 7 polls
    clock.now += 1.0
    assert limiter.acquire("submit", rates) == 0.0


def test_slow_rates_get_one_call_per_longer_window(limiter: RedisLimiter, clock: Clock) -> None:
    rates = Rates(0.5)
    assert grants(limiter, "status", rates, 2) == [0.0, pytest.approx(2.0)]
    clock.now += 2.0
    assert limiter.acquire("status", rates) == 0.0


def test_a_429_pauses_everyone_for_retry_after(limiter: RedisLimiter, clock: Clock) -> None:
    limiter.rate_limited(3.0)
    assert limiter.acquire("status", Rates(100)) == pytest.approx(3.0)
    limiter.rate_limited(5.0)  # a longer Retry-After in the same episode extends the pause
    clock.now += 1.0
    assert limiter.acquire("status", Rates(100)) == pytest.approx(4.0)
    clock.now += 4.0
    assert limiter.acquire("status", Rates(100)) == 0.0


def test_without_retry_after_the_pause_backs_off_per_episode(limiter: RedisLimiter, clock: Clock) -> None:
    pauses = []
    for _ in range(3):
        limiter.rate_limited(None)
        pauses.append(limiter.state()["pause"])
        clock.now += 100.0  # next episode, still within the streak (kept in Redis time)
    assert pauses == [pytest.approx(0.75), pytest.approx(1.5), pytest.approx(3.0)]  # rand 0.5: 3/4 of each step


def test_the_cap_halves_what_got_through_then_climbs_to_ninety_percent(limiter: RedisLimiter, clock: Clock) -> None:
    rates = Rates(40)
    assert grants(limiter, "status", rates, 40) == [0.0] * 40  # 40 got through in the last second
    limiter.rate_limited(1.0)
    limiter.rate_limited(1.0)  # the same episode: no second cut
    assert limiter.state() == {"pause": pytest.approx(1.0), "cap": pytest.approx(20.0)}
    clock.now += 1.0 + 5.0  # half-way up the 10 s ramp
    assert limiter.state()["cap"] == pytest.approx(28.0)
    clock.now += 5.0
    assert limiter.state()["cap"] == pytest.approx(36.0)
    clock.now += 100.0
    assert limiter.state()["cap"] == pytest.approx(36.0)  # and stays there (for ``memory`` seconds)
    assert grants(limiter, "status", rates, 37) == [0.0] * 36 + [pytest.approx(1.0)]


def test_a_second_429_aims_lower_again(limiter: RedisLimiter, clock: Clock) -> None:
    grants(limiter, "status", Rates(40), 40)
    limiter.rate_limited(1.0)
    clock.now += 20.0
    grants(limiter, "status", Rates(40), 30)  # 30 got through under the cap of 36
    limiter.rate_limited(1.0)
    assert limiter.state()["cap"] == pytest.approx(15.0)
    clock.now += 20.0
    assert limiter.state()["cap"] == pytest.approx(30 * 0.9 ** 2)


def test_a_429_with_too_little_history_only_pauses(limiter: RedisLimiter) -> None:
    limiter.acquire("status", Rates(40))
    limiter.rate_limited(2.0)
    assert limiter.state() == {"pause": pytest.approx(2.0), "cap": None}


def test_pacing_spreads_calls_a_little_under_the_ceiling(limiter: RedisLimiter, clock: Clock) -> None:
    rates = Rates(50)
    pace = limiter.policy.pace
    room = limiter.capacity(rates, 1.0)
    assert room == Capacity(49, 49)
    starts = limiter.plan([PlannedCall("status", 0.0, rates)] * room.calls)
    assert starts == pytest.approx([i / (50 * pace) for i in range(49)])
    assert limiter.capacity(rates, 1.0) == Capacity(0, 0)  # the cursor is at the end of the horizon
    clock.now += 0.5
    assert limiter.plan([PlannedCall("status", 0.0, rates)])[0] == pytest.approx(49 / (50 * pace) - 0.5)
    clock.now += 2.0  # a cursor left in the past is not a debt: calls go when due
    assert limiter.plan([PlannedCall("status", 0.0, rates)])[0] == pytest.approx(0.0)


def test_pacing_honours_due_times_and_the_pause(limiter: RedisLimiter, clock: Clock) -> None:
    rates = Rates(10)
    assert limiter.plan([PlannedCall("status", 0.5, rates), PlannedCall("status", 0.5, rates)]) == pytest.approx(
        [0.5, 0.5 + 1 / (10 * limiter.policy.pace)])
    limiter.rate_limited(2.0)
    assert limiter.capacity(rates, 1.5) == Capacity(0, 0)
    assert limiter.plan([PlannedCall("status", 0.0, rates)]) == pytest.approx([2.0])


def test_submits_with_their_own_ceiling_do_not_wait_behind_polls(limiter: RedisLimiter) -> None:
    rates = Rates(100, 10)
    calls = [PlannedCall("status", 0.0, rates)] * 50 + [PlannedCall("submit", 0.0, rates)] * 3
    starts = limiter.plan(calls)
    spacing = 1 / (10 * limiter.policy.pace)
    assert starts[50:] == pytest.approx([0.0, spacing, 2 * spacing])
    assert limiter.capacity(rates, 1.0).submits == 7


def test_the_pause_and_cap_keys_live_in_redis(limiter: RedisLimiter, url: str) -> None:
    grants(limiter, "status", Rates(40), 40)
    limiter.rate_limited(1.0)
    client = redis.Redis.from_url(url)
    assert client.exists(PAUSE_KEY) and client.exists(CAP_KEY)
    other = RedisLimiter(url, clock=limiter._clock, policy=LimiterPolicy())  # another worker sees the same
    assert other.acquire("status", Rates(40)) == pytest.approx(1.0)


def test_each_question_is_one_redis_round_trip(limiter: RedisLimiter, monkeypatch: pytest.MonkeyPatch) -> None:
    rates = Rates(100, 10)

    def ask_everything() -> None:
        limiter.acquire("submit", rates)
        limiter.rate_limited(0.0)
        limiter.capacity(rates, 1.0)
        limiter.plan([PlannedCall("submit", 0.0, rates), PlannedCall("status", 0.0, rates)])
        limiter.state()

    ask_everything()  # the first call of each script may load it into the server
    sent: list[str] = []
    client = limiter.backend._redis  # type: ignore[attr-defined]
    original = client.execute_command
    monkeypatch.setattr(client, "execute_command", lambda *a, **kw: sent.append(a[0]) or original(*a, **kw))
    ask_everything()
    assert sent == ["EVALSHA"] * 5
