"""What run says when the broker or the database stops answering: which one, since when; not for a blip."""

from __future__ import annotations

from datetime import datetime

from batch.embedded.health import Reachability, Watch, safe_url
from batch.testing.clock import ManualClock


def test_an_outage_is_named_after_the_grace_period_with_its_start() -> None:
    clock = ManualClock(1_700_000_000.0)
    reach = Reachability(clock=clock, grace=3.0)
    reach.failed("broker (unix:///x.sock)")
    clock.advance(2.0)
    reach.failed("broker (unix:///x.sock)")  # still down: the outage keeps its start
    assert reach.warnings() == []  # a restart takes less than this
    clock.advance(10.0)
    since = datetime.fromtimestamp(1_700_000_000.0).strftime("%H:%M:%S")
    assert reach.warnings() == [f"broker (unix:///x.sock) unreachable since {since} (12 s)"]
    reach.ok("broker (unix:///x.sock)")
    assert reach.warnings() == []


def test_two_outages_longest_first() -> None:
    clock = ManualClock(1_700_000_000.0)
    reach = Reachability(clock=clock, grace=1.0)
    reach.failed("database")
    clock.advance(5.0)
    reach.failed("broker")
    clock.advance(5.0)
    assert [name for name, _ in reach.down()] == ["database", "broker"]


def test_passwords_are_not_shown() -> None:
    assert safe_url("redis://:secret@host:6379/0") == "redis://host:6379/0"
    assert safe_url("unix:///tmp/a.sock") == "unix:///tmp/a.sock"


def test_a_watch_says_each_outage_once_then_its_end_and_revives_after_recording() -> None:
    clock = ManualClock(1_700_000_000.0)
    reach = Reachability(clock=clock, grace=3.0)
    answers = iter([True, False, False, False, False, True])
    said: list[str] = []
    revived: list[set[str]] = []

    def check() -> bool:
        clock.advance(1.0)  # a ping that times out takes time: the outage began when it was sent
        return next(answers)

    watch = Watch({"broker": check}, reach, say=said.append, revive={"broker": lambda: revived.append(reach.failing())})
    for _ in range(6):
        watch.check_once()
    since = datetime.fromtimestamp(1_700_000_001.0).strftime("%H:%M:%S")
    assert said == [f"broker unreachable since {since} (3 s)", "broker reachable again"]
    assert revived == [{"broker"}] * 4  # each failure was on record before the revival was tried
