"""Rate and ETA estimates from tables; the live watch driven by a fake clock (no sleeping)."""

from __future__ import annotations

import pytest

from batch.cli import console
from batch.core.progress import Estimate, RateTracker, Sample, estimate, format_eta, format_rate
from batch.store.queries import BatchStatus


def samples(*pairs: tuple[float, int]) -> list[Sample]:
    return [Sample(at, finished) for at, finished in pairs]


@pytest.mark.parametrize(
    ("observed", "total", "window", "rate", "eta"),
    [
        pytest.param([], 10, 30.0, None, None, id="nothing observed"),
        pytest.param([(0, 0)], 10, 30.0, None, None, id="one sample: no rate yet"),
        pytest.param([(5, 3), (5, 4)], 10, 30.0, None, None, id="no time elapsed"),
        pytest.param([(0, 0), (10, 5)], 25, 30.0, 0.5, 40.0, id="steady"),
        pytest.param([(0, 0), (5, 5), (10, 10)], 20, 30.0, 1.0, 10.0, id="three samples"),
        pytest.param([(0, 0), (10, 0)], 10, 30.0, 0.0, None, id="stalled from the start"),
        # fast early, stalled over the last window: the rate falls to zero and the ETA is unknown
        pytest.param([(0, 0), (10, 50), (50, 50), (60, 50)], 100, 30.0, 0.0, None, id="stalled lately"),
        # the anchor is the last sample at or before the window start (t=30), not the oldest
        pytest.param([(0, 0), (30, 10), (40, 30), (60, 70)], 100, 30.0, 2.0, 15.0, id="window anchor"),
        pytest.param([(0, 0), (30, 10), (40, 30), (60, 70)], 100, 100.0, 70 / 60, 30 / (70 / 60), id="wide window"),
        pytest.param([(0, 0), (4, 10)], 10, 30.0, 2.5, 0.0, id="finished: eta zero"),
        pytest.param([(0, 0), (4, 12)], 10, 30.0, 3.0, 0.0, id="over-count clamps remaining"),
        pytest.param([(0, 8), (10, 6)], 10, 30.0, 0.0, None, id="jobs retried: never negative"),
        pytest.param([], 0, 30.0, None, None, id="empty batch"),
    ],
)
def test_estimate(observed: list[tuple[float, int]], total: int, window: float, rate: float | None,
                  eta: float | None) -> None:
    got = estimate(samples(*observed), total, window=window)
    assert got.rate == (pytest.approx(rate) if rate is not None else None)
    assert got.eta == (pytest.approx(eta) if eta is not None else None)
    assert got.total == total


def test_estimate_remaining() -> None:
    assert Estimate(3, 10, None, None).remaining == 7
    assert Estimate(12, 10, None, None).remaining == 0


@pytest.mark.parametrize(
    ("steps", "window", "rate", "eta"),
    [
        pytest.param([(0.0, 0)], 30.0, None, None, id="first observation"),
        pytest.param([(0.0, 0), (1.0, 2), (2.0, 4)], 30.0, 2.0, 48.0, id="steady 2/s"),
        # old samples leave the window: only the last 10 s (rate 1/s) count, not the fast start
        pytest.param([(0.0, 0), (1.0, 40), (21.0, 40), (31.0, 50)], 10.0, 1.0, 50.0, id="old samples pruned"),
        pytest.param([(10.0, 5), (5.0, 6)], 30.0, None, None, id="clock went backwards: start over"),
    ],
)
def test_tracker(steps: list[tuple[float, int]], window: float, rate: float | None, eta: float | None) -> None:
    tracker = RateTracker(100, window=window)
    got = Estimate(0, 100, None, None)
    for now, finished in steps:
        got = tracker.observe(finished, now)
    assert got.rate == (pytest.approx(rate) if rate is not None else None)
    assert got.eta == (pytest.approx(eta) if eta is not None else None)


def test_tracker_keeps_a_bounded_number_of_samples() -> None:
    tracker = RateTracker(10_000, window=5.0)
    for i in range(1000):
        tracker.observe(i, float(i))
    assert len(tracker._samples) <= 7


def test_tracker_total_may_change() -> None:
    tracker = RateTracker(10)
    tracker.observe(0, 0.0)
    assert tracker.observe(5, 5.0, total=20).eta == pytest.approx(15.0)


@pytest.mark.parametrize(
    ("rate", "text"),
    [(None, "-"), (0.0, "0/s"), (2.5, "2.5/s"), (1.0, "1.0/s"), (0.5, "0.50/s"), (0.05, "3.0/min"),
     (0.01, "36.0/h")],
)
def test_format_rate(rate: float | None, text: str) -> None:
    assert format_rate(rate) == text


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(None, "-"), (0.0, "0s"), (44.6, "45s"), (59.4, "59s"), (60, "1m00s"), (725, "12m05s"), (3600, "1h00m"),
     (12_000, "3h20m")],
)
def test_format_eta(seconds: float | None, text: str) -> None:
    assert format_eta(seconds) == text


def _status(counts: dict[str, int]) -> BatchStatus:
    return BatchStatus(7, "watched", counts, "/tmp/out", 0, 0.0)


def test_watch_status_runs_until_no_job_is_active(capsys: pytest.CaptureFixture[str]) -> None:
    script = [
        {"pending": 10},
        {"pending": 6, "running": 2, "succeeded": 2},
        {"running": 2, "succeeded": 6, "failed": 1, "held": 1},
        {"succeeded": 8, "failed": 1, "held": 1},
    ]
    calls: list[int] = []
    naps: list[float] = []
    ticks = iter(float(t) for t in range(100))

    def fetch(batch_id: int) -> BatchStatus:
        calls.append(batch_id)
        return _status(script[min(len(calls) - 1, len(script) - 1)])

    final = console.watch_status(7, interval=0.25, fetch=fetch, clock=lambda: next(ticks), sleep=naps.append)
    assert final.counts == script[-1]
    assert calls == [7, 7, 7, 7] and naps == [0.25, 0.25, 0.25]
    out = capsys.readouterr().out
    assert "9/10" in out and "1 job(s) held" in out


def test_watch_status_stops_at_a_parked_batch_and_says_why(capsys: pytest.CaptureFixture[str]) -> None:
    script = [{"pending": 4}, {"succeeded": 2, "parked": 2}]
    calls: list[int] = []

    def fetch(batch_id: int) -> BatchStatus:
        calls.append(batch_id)
        counts = script[min(len(calls) - 1, len(script) - 1)]
        reason = "budget $0.30 reached" if "parked" in counts else None
        return BatchStatus(7, "watched", counts, "/tmp/out", 0, 0.3, reason)

    final = console.watch_status(7, interval=1.0, fetch=fetch, clock=lambda: 0.0, sleep=lambda _: None)
    assert final.counts == script[-1] and calls == [7, 7]
    out = capsys.readouterr().out
    assert "2 job(s) parked: budget $0.30 reached" in out and "nanobatch resume 7 --budget" in out


def test_watch_status_ctrl_c_returns_quietly(capsys: pytest.CaptureFixture[str]) -> None:
    def sleep(_: float) -> None:
        raise KeyboardInterrupt

    final = console.watch_status(7, interval=1.0, fetch=lambda _: _status({"pending": 3}), clock=lambda: 0.0,
                                 sleep=sleep)
    assert final.counts == {"pending": 3}
    assert "stopped watching" in capsys.readouterr().out


def test_plain_lines_every_tenth_or_every_minute_from_a_fake_clock() -> None:
    from batch.cli.plainlines import PlainLines

    said: list[str] = []
    lines = PlainLines(said.append)
    tracker = RateTracker(100)

    def at(now: float, finished: int, final: bool = False) -> bool:
        return lines.observe(now, tracker.observe(finished, now, 100), f"succeeded {finished}", finished * 0.15,
                             final=final)

    assert at(0, 0)  # the first observation: where it starts
    assert not at(0.5, 5) and not at(30, 9)  # within the same tenth and the same minute: quiet
    assert at(31, 10)  # a new tenth
    assert not at(60, 12) and at(91, 12)  # a minute since the last line, whatever the progress
    assert at(95, 35) and not at(96, 36)  # several tenths at once: one line
    assert at(97, 36, final=True)  # the last observation is always said
    assert said[0] == "0/100 jobs done (0%); succeeded 0; $0.00 spent; -; ETA -"
    assert said[1].startswith("10/100 jobs done (10%); succeeded 10; $1.50 spent; ")
    assert len(said) == 5
    lines.note("broker@1", "warning: broker down")
    lines.note("broker@1", "warning: broker down (still)")  # the same outage: said once
    assert said[-1] == "warning: broker down" and len(said) == 6
