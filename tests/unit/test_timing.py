"""Backoff, run-time estimates and poll timing: pure functions checked from tables, no sleeping."""

from __future__ import annotations

import itertools
import random

import pytest

from batch.core.timing import (
    PRIOR,
    PollPolicy,
    QueueModel,
    RuntimeEstimate,
    Sighting,
    backoff_delay,
    closing_gap,
    estimate_runtime,
    first_poll_age,
    next_poll_delay,
    pause_after_429,
    poll_gap,
    queue_model,
    survival_quantiles,
)


def fixed(value: float):  # type: ignore[no-untyped-def]
    return lambda: value


@pytest.mark.parametrize(
    ("attempt", "rand", "expected"),
    [
        (1, 0.0, 0.5), (1, 1.0, 1.0), (2, 0.0, 1.0), (3, 0.5, 3.0), (4, 1.0, 8.0),
        (10, 0.0, 30.0), (10, 1.0, 60.0),  # capped at 60: half kept, half drawn
    ],
)
def test_backoff_is_equal_jitter_exponential_and_capped(attempt: int, rand: float, expected: float) -> None:
    assert backoff_delay(attempt, fixed(rand)) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("retry_after", "episode", "rand", "expected"),
    [(3.0, 1, 0.9, 3.0), (0.0, 4, 0.9, 0.0), (None, 1, 0.0, 0.5), (None, 3, 1.0, 4.0), (float("nan"), 2, 0.0, 1.0)],
)
def test_pause_after_429_honours_retry_after_else_backs_off(retry_after: float | None, episode: int, rand: float,
                                                              expected: float) -> None:
    assert pause_after_429(retry_after, episode, fixed(rand)) == pytest.approx(expected)


def test_survival_quantiles_without_censoring_are_the_empirical_ones() -> None:
    found = survival_quantiles([float(i) for i in range(1, 101)], [], (0.05, 0.5, 0.95))
    assert found == {0.05: 5.0, 0.5: 50.0, 0.95: 95.0}


def test_survival_quantiles_count_running_jobs_as_at_least_their_age() -> None:
    # ten quick jobs finished, ninety still running at age 20: at most ~10 % finish by 20 s
    found = survival_quantiles([1.0] * 10, [20.0] * 90, (0.05, 0.5))
    assert found == {0.05: 1.0}  # the median is not known yet, and not guessed low


@pytest.mark.parametrize(
    ("durations", "running", "expected"),
    [
        ([], [], PRIOR),
        ([3.0, 4.0, 5.0, 6.0], [], PRIOR),  # fewer than five finished
        ([float(i) for i in range(1, 21)], [], RuntimeEstimate(1.0, 19.0, 20, True)),  # read off the data
        ([float(i) for i in range(5, 15)], [], RuntimeEstimate(5.0, 13.0, 10, True)),  # extrapolated from the median
        ([5.0, 5.5, 6.0, 6.5, 7.0], [8.0] * 95, RuntimeEstimate(7.0, 40.0, 5)),  # only the low end known
    ],
)
def test_estimate_runtime(durations: list[float], running: list[float], expected: RuntimeEstimate) -> None:
    assert estimate_runtime(durations, running) == expected


def test_estimate_is_not_biased_low_by_early_finishers() -> None:
    rng = random.Random(4)
    runs = [rng.uniform(5, 30) for _ in range(300)]
    at = 18.0  # all submitted at 0; observed at 18 s
    naive = estimate_runtime([r for r in runs if r <= at])
    censored = estimate_runtime([r for r in runs if r <= at], [at for r in runs if r > at])
    assert naive.high < 18.0
    assert 26.0 < censored.high < 34.0  # the true 95th percentile is 28.75


@pytest.mark.parametrize(
    ("estimate", "gap", "closing", "first"),
    [
        (RuntimeEstimate(5.0, 29.0, 50, True), 4.0, 1.68, 14.6),
        (RuntimeEstimate(2.0, 4.0, 50, True), 0.5, 0.5, 2.8),      # narrow window: the minimum gap
        (RuntimeEstimate(1.0, 2.0, 50, True), 0.5, 0.5, 1.5),      # ... and no first poll sooner than it
        (RuntimeEstimate(10.0, 600.0, 50, True), 30.0, 30.0, 246.0),  # wide window: the maximum gap
        (RuntimeEstimate(5.0, 40.0, 5), 35 / 6, 35 * 0.07, 5.0 + 35 / 6),  # high from the prior: one even gap
        (PRIOR, 38 / 6, 38 * 0.07, 2.0 + 38 / 6),
    ],
)
def test_gap_and_first_poll(estimate: RuntimeEstimate, gap: float, closing: float, first: float) -> None:
    assert poll_gap(estimate) == pytest.approx(gap)
    assert closing_gap(estimate) == pytest.approx(closing)
    assert first_poll_age(estimate) == pytest.approx(first)


EST = RuntimeEstimate(5.0, 29.0, 50, high_learned=True)  # closing gap 1.68, first poll at 14.6


@pytest.mark.parametrize(
    ("age", "position", "expected"),
    [
        (0.0, None, 14.6),    # at submit: wait for the first-poll age
        (15.0, None, 3.136),  # inside the window: a fifth of the time left until high + the closing gap
        (20.0, None, 2.136),
        (29.0, None, 1.68),   # ... never below the closing gap
        (33.0, None, 3.68),   # overdue by 4: closing gap + half of it
        (61.0, None, 17.68),
        (200.0, None, 30.0),  # the ceiling
        (12.0, 5, 10.0),      # queued at position 5: not before it can have moved
        (12.0, 40, 30.0),
        (2.0, None, 2.0),     # a scout polled early: again at double its age
        (0.5, None, 0.5),     # ... never below the minimum gap
        (13.0, None, 1.6),    # ... nor past the first-poll age
    ],
)
def test_next_poll_delay_table(age: float, position: int | None, expected: float) -> None:
    assert next_poll_delay(age, EST, fixed(0.5), queue_position=position) == pytest.approx(expected)


@pytest.mark.parametrize("rand", [0.0, 0.25, 0.999])
def test_jitter_stays_within_ten_percent(rand: float) -> None:
    delay = next_poll_delay(20.0, EST, fixed(rand))
    assert 2.136 * 0.9 - 1e-9 <= delay <= 2.136 * 1.1


def test_policy_knobs_are_honoured() -> None:
    policy = PollPolicy(min_gap=2.0, max_gap=12.0, first_share=0.25, closing=0.5, closing_gap=0.1, jitter=0.0)
    assert next_poll_delay(0.0, EST, fixed(0.9), policy=policy) == pytest.approx(11.0)
    assert next_poll_delay(15.0, EST, fixed(0.9), policy=policy) == pytest.approx(8.2)
    assert next_poll_delay(100.0, EST, fixed(0.9), policy=policy) == pytest.approx(12.0)


def _economy(estimate: RuntimeEstimate, runs: list[float]) -> tuple[float, float]:
    """Mean reads of the result per job and the median lag, polling each run time on the schedule."""
    reads, lags = [], []
    for run in runs:
        age, count = next_poll_delay(0.0, estimate, fixed(0.5)), 1
        while age < run:
            age, count = age + next_poll_delay(age, estimate, fixed(0.5)), count + 1
        reads.append(count)
        lags.append(age - run)
    return sum(reads) / len(reads), sorted(lags)[len(lags) // 2]


def test_polls_closing_in_on_the_high_quantile_find_jobs_sooner_with_fewer_reads() -> None:
    # run times spread evenly over 5-30 s (issue 23's benchmark), their quantiles learned
    runs = [5.0 + 25.0 * i / 999 for i in range(1000)]
    reads, median_lag = _economy(RuntimeEstimate(6.25, 28.75, 100, high_learned=True), runs)
    assert reads <= 3.4  # even gaps of a sixth of the window: 3.6 reads
    assert median_lag <= 1.5  # ... and a median lag of 2.1 s


@pytest.mark.parametrize(("age", "expected"), [(0.0, 9.0), (9.0, 4.0), (28.0, 4.0), (33.0, 6.0)])
def test_while_the_high_quantile_is_the_priors_polls_come_evenly(age: float, expected: float) -> None:
    # a guessed high end (40 s for jobs that may take 1 s) must not put every first poll late
    guessed = RuntimeEstimate(5.0, 29.0, 5, high_learned=False)
    assert next_poll_delay(age, guessed, fixed(0.5)) == pytest.approx(expected)


def test_gaps_shrink_towards_the_high_quantile_then_grow_past_it() -> None:
    ages = [first_poll_age(EST)]
    while ages[-1] < 40.0:
        ages.append(ages[-1] + next_poll_delay(ages[-1], EST, fixed(0.5)))
    gaps = [later - earlier for earlier, later in itertools.pairwise(ages)]
    inside = [g for g, age in zip(gaps, ages, strict=False) if age <= EST.high]
    past = [g for g, age in zip(gaps, ages, strict=False) if age > EST.high]
    assert inside == sorted(inside, reverse=True) and inside[0] > 1.5 * inside[-1]  # closer as high nears
    assert past == sorted(past) and past[0] > inside[-1]


def test_behind_a_queue_the_gap_does_not_grow_with_the_time_overdue() -> None:
    # 200 s old, mostly spent in upstream's queue: polled at the window's gap, not 30 s later
    assert next_poll_delay(200.0, EST, fixed(0.5), behind_queue=True) == pytest.approx(4.0)
    assert next_poll_delay(200.0, EST, fixed(0.5)) == pytest.approx(30.0)


def test_a_learned_wait_per_queue_position_replaces_the_policys() -> None:
    assert next_poll_delay(12.0, EST, fixed(0.5), queue_position=40, seconds_per_position=0.5) == pytest.approx(20.0)
    assert next_poll_delay(12.0, EST, fixed(0.5), queue_position=40, seconds_per_position=None) == pytest.approx(30.0)


@pytest.mark.parametrize(
    ("first", "last", "rate"),
    [
        # 100 submitted between them; 2 s later the later job stands 80 places ahead of where
        # it stood: the queue moved 10 + 100 - 30 = 80 places in 2 s
        (Sighting(rank=0, position=10, seen_at=100.0), Sighting(rank=100, position=30, seen_at=102.0), 40.0),
        # the same job seen twice
        (Sighting(rank=5, position=50, seen_at=100.0), Sighting(rank=5, position=20, seen_at=110.0), 3.0),
        # an earlier-submitted job sighted later (ranks go down): still a distance in the queue
        (Sighting(rank=50, position=60, seen_at=100.0), Sighting(rank=40, position=30, seen_at=104.0), 5.0),
        # not moving; then too close together to tell
        (Sighting(rank=0, position=10, seen_at=100.0), Sighting(rank=10, position=20, seen_at=105.0), None),
        (Sighting(rank=0, position=10, seen_at=100.0), Sighting(rank=0, position=5, seen_at=100.2), None),
    ],
)
def test_queue_model_learns_the_pace_from_two_sightings(first: Sighting, last: Sighting, rate: float | None) -> None:
    model = queue_model(first, last)
    if rate is None:
        assert model is None
    else:
        assert model is not None and model.rate == pytest.approx(rate) and model.latest == last
        assert model.seconds_per_position() == pytest.approx(1 / rate)


@pytest.mark.parametrize(
    ("at", "started"),
    [
        (100.0, -10),  # when sighted: none of ours yet (29 stood before it, 20 of them ours)
        (101.0, 0),    # 10 places later: our first job (rank 0) starts
        (103.0, 20),   # 30 places: the sighted job itself
        (105.5, 45),   # after it, one of ours per place
    ],
)
def test_queue_model_tells_which_submits_the_queue_has_reached(at: float, started: int) -> None:
    model = QueueModel(Sighting(rank=20, position=30, seen_at=100.0), rate=10.0)
    assert model.started_by(at) == started
