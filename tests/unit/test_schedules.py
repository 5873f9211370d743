"""Schedules, pure: cron fire times in time zones (DST included), catch-up, and file:line errors."""

from __future__ import annotations

import time
from datetime import UTC, datetime, tzinfo
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from batch.errors import ManifestError
from batch.schedules.file import (
    Schedule,
    batch_name,
    due_slots,
    fire_times,
    last_slots,
    load_schedules,
    parse_schedules,
    slot_folder,
    slot_iso,
    slots_between,
)

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")


def at(zone: tzinfo, year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> float:
    """A wall-clock time in ``zone`` as a UNIX timestamp."""
    return datetime(year, month, day, hour, minute, tzinfo=zone).timestamp()


def iso(schedule: Schedule, slots: list[float]) -> list[str]:
    return [slot_iso(schedule, s) for s in slots]


def sched(cron: str, zone: str = "UTC", **kw: object) -> Schedule:
    return Schedule("nightly", "/m.yaml", cron, zone, **kw)  # type: ignore[arg-type]


# -- fire times -------------------------------------------------------------------------------

def test_nightly_follows_the_zone_not_utc() -> None:
    s = sched("0 2 * * *", "Europe/Berlin")
    winter = fire_times(s, at(BERLIN, 2026, 1, 10, 12), 2)
    summer = fire_times(s, at(BERLIN, 2026, 7, 10, 12), 1)
    assert iso(s, winter) == ["2026-01-11T02:00:00+01:00", "2026-01-12T02:00:00+01:00"]
    assert datetime.fromtimestamp(winter[0], UTC).hour == 1
    assert datetime.fromtimestamp(summer[0], UTC).hour == 0  # CEST: 02:00 local is 00:00 UTC


def test_spring_forward_gap_fires_at_the_end_of_the_gap() -> None:
    s = sched("30 2 * * *", "Europe/Berlin")  # 02:30 does not exist on 2026-03-29
    got = fire_times(s, at(BERLIN, 2026, 3, 27, 12), 3)
    assert iso(s, got) == ["2026-03-28T02:30:00+01:00", "2026-03-29T03:00:00+02:00", "2026-03-30T02:30:00+02:00"]
    assert got[2] - got[1] == 23.5 * 3600  # 03:00 CEST -> 02:30 CEST the next day


def test_fall_back_repeated_time_fires_once() -> None:
    s = sched("30 2 * * *", "Europe/Berlin")  # 02:30 happens twice on 2026-10-25
    got = fire_times(s, at(BERLIN, 2026, 10, 24, 12), 3)
    assert iso(s, got) == ["2026-10-25T02:30:00+02:00", "2026-10-26T02:30:00+01:00", "2026-10-27T02:30:00+01:00"]


def test_hourly_across_both_dst_changes_new_york() -> None:
    s = sched("0 * * * *", "America/New_York")
    spring = fire_times(s, at(NEW_YORK, 2026, 3, 8, 0, 30), 3)
    assert iso(s, spring) == ["2026-03-08T01:00:00-05:00", "2026-03-08T03:00:00-04:00", "2026-03-08T04:00:00-04:00"]
    fall = fire_times(s, at(NEW_YORK, 2026, 11, 1, 0, 30), 3)
    assert iso(s, fall) == ["2026-11-01T01:00:00-04:00", "2026-11-01T02:00:00-05:00", "2026-11-01T03:00:00-05:00"]


def test_slots_between_is_exclusive_then_inclusive_and_aliases_work() -> None:
    s = sched("@daily")
    start, end = at(UTC, 2026, 5, 1), at(UTC, 2026, 5, 4)
    assert iso(s, slots_between(s, start, end)) == [
        "2026-05-02T00:00:00+00:00", "2026-05-03T00:00:00+00:00", "2026-05-04T00:00:00+00:00"]
    assert last_slots(s, start, end, 2) == slots_between(s, start, end)[-2:]


def test_batch_name_and_folder_carry_the_local_slot_time() -> None:
    s = sched("0 2 * * *", "Europe/Berlin")
    slot = at(BERLIN, 2026, 11, 26, 2)
    assert batch_name(s, slot) == "nightly@2026-11-26T02:00:00+01:00"
    assert slot_folder(s, slot) == "20261126T020000+0100"


# -- due slots and catch-up -------------------------------------------------------------------

DAY = 86400.0
FIRST = at(UTC, 2026, 6, 1, 2)  # a recorded slot: 2026-06-01 02:00 UTC


@pytest.mark.parametrize(("policy", "maximum", "expected_days"), [
    ("none", 10, [4]),
    ("latest", 10, [3, 4]),
    ("all", 10, [1, 2, 3, 4]),
    ("all", 2, [2, 3, 4]),
])
def test_catch_up_after_the_beat_was_down(policy: str, maximum: int, expected_days: list[int]) -> None:
    s = sched("0 2 * * *", catch_up=policy, catch_up_max=maximum)
    now = FIRST + 4 * DAY + 20  # down for 3 slots; the 4th is 20 s old: on time
    assert due_slots(s, FIRST, now) == [FIRST + d * DAY for d in expected_days]


def test_missed_only_when_no_slot_is_on_time() -> None:
    s = sched("0 2 * * *", catch_up="latest")
    now = FIRST + 2 * DAY + 3600  # newest slot is an hour old: missed too
    assert due_slots(s, FIRST, now) == [FIRST + 2 * DAY]
    assert due_slots(sched("0 2 * * *", catch_up="none"), FIRST, now) == []


def test_nothing_due_twice_and_nothing_before_the_slot() -> None:
    s = sched("0 2 * * *", catch_up="all")
    assert due_slots(s, FIRST, FIRST + 60) == []
    assert due_slots(s, FIRST, FIRST + DAY - 1) == []
    assert due_slots(s, FIRST, FIRST + DAY) == [FIRST + DAY]


def test_new_schedule_fires_only_an_on_time_slot() -> None:
    every_minute = sched("* * * * *", catch_up="all")
    now = at(UTC, 2026, 6, 1, 12, 0) + 30
    assert due_slots(every_minute, None, now) == [now - 30]
    assert due_slots(sched("0 2 * * *", catch_up="all"), None, now) == []


def test_catch_up_work_is_bounded_after_a_long_outage() -> None:
    s = sched("* * * * *", catch_up="all", catch_up_max=3)
    started = time.perf_counter()
    got = due_slots(s, FIRST, FIRST + 365 * DAY + 5)
    assert time.perf_counter() - started < 1.0
    assert got == [FIRST + 365 * DAY - 180 + 60 * i for i in range(4)]


# -- parsing ----------------------------------------------------------------------------------

GOOD = """\
schedules:
  - name: nightly-catalog
    manifest: jobs.yaml
    cron: "0 2 * * *"
    timezone: Europe/Berlin
  - name: hourly.b
    manifest: sub/other.yaml
    cron: "@hourly"
    overlap: queue
    catch_up: all
    catch_up_max: 4
"""


def test_parse_defaults_and_paths(tmp_path: Path) -> None:
    (tmp_path / "jobs.yaml").write_text("x")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "other.yaml").write_text("x")
    (tmp_path / "s.yaml").write_text(GOOD)
    first, second = load_schedules(tmp_path / "s.yaml")
    assert first == Schedule("nightly-catalog", str(tmp_path / "jobs.yaml"), "0 2 * * *", "Europe/Berlin",
                             "skip", "latest", 10, line=2)
    assert (second.manifest, second.timezone, second.overlap, second.catch_up, second.catch_up_max) == (
        str(tmp_path / "sub" / "other.yaml"), "UTC", "queue", "all", 4)


BAD = """\
schedules:
  - name: nightly
    manifest: missing.yaml
    cron: "0 2 * *"
    timezone: Mars/Olympus
    overlap: maybe
    catch_up: sometimes
    catch_up_max: 0
    retries: 3
  - name: nightly
    manifest: jobs.yaml
    cron: "@daily"
  - name: nightly
    manifest: jobs.yaml
    cron: "@daily"
  - name: "-bad name"
    cron: 5
  - just a string
"""


def test_every_problem_with_file_and_line(tmp_path: Path) -> None:
    with pytest.raises(ManifestError) as caught:
        parse_schedules(BAD, "sched.yaml", tmp_path, {}, exists=lambda p: p.name == "jobs.yaml")
    shown = [str(p) for p in caught.value.problems]
    assert shown == [
        f"sched.yaml:3: schedules[0].manifest: no such file: {tmp_path / 'missing.yaml'}",
        "sched.yaml:4: schedules[0].cron: '0 2 * *' is not a cron expression: give 5 fields (minute hour day "
        "month weekday), e.g. '0 2 * * *', or one of @yearly, @annually, @monthly, @weekly, @daily, @midnight, "
        "@hourly",
        "sched.yaml:5: schedules[0].timezone: 'Mars/Olympus' is not a known time zone (an IANA name such as UTC "
        "or Europe/Berlin)",
        "sched.yaml:6: schedules[0].overlap: must be one of skip, queue, not 'maybe'",
        "sched.yaml:7: schedules[0].catch_up: must be one of none, latest, all, not 'sometimes'",
        "sched.yaml:8: schedules[0].catch_up_max: must be a whole number greater than 0, not 0",
        "sched.yaml:9: schedules[0].retries: unknown key; expected one of name, manifest, cron, timezone, "
        "overlap, catch_up, catch_up_max",
        "sched.yaml:13: schedules[2].name: duplicate schedule name (first at line 10)",
        "sched.yaml:16: schedules[3].name: '-bad name' must be 1-100 of A-Z a-z 0-9 . _ - (not starting with "
        ". or -)",
        "sched.yaml:16: schedules[3].manifest: required",
        "sched.yaml:17: schedules[3].cron: must be a non-empty string, not a number",
        "sched.yaml:18: schedules[4]: must be a mapping, not a string",
    ]


@pytest.mark.parametrize(("text", "message"), [
    ("", "sched.yaml:1: the file must be a mapping with a schedules: list, but it is nothing (null)"),
    ("schedules: 3\n", "sched.yaml:1: schedules: must be a list, not a number"),
    ("other: 1\n", "sched.yaml:1: other: unknown key; expected one of schedules"),
    ("schedules: [\n", "sched.yaml:2: YAML syntax error"),
    ("schedules:\n  - name: a\n    manifest: ${NOPE}\n    cron: '@daily'\n",
     "sched.yaml:3: environment variable NOPE is not set"),
])
def test_file_level_problems(text: str, message: str) -> None:
    with pytest.raises(ManifestError) as caught:
        parse_schedules(text, "sched.yaml", Path("/"), {})
    assert str(caught.value.problems[0]).startswith(message)


def test_empty_list_is_fine_and_env_is_interpolated(tmp_path: Path) -> None:
    assert parse_schedules("schedules: []\n", "s.yaml", tmp_path, {}) == []
    text = "schedules:\n  - {name: a, manifest: m.yaml, cron: '${CRON:-@daily}', timezone: '${TZ_NAME}'}\n"
    (got,) = parse_schedules(text, "s.yaml", tmp_path, {"TZ_NAME": "Asia/Tokyo"})
    assert (got.cron, got.timezone) == ("@daily", "Asia/Tokyo")


def test_load_reads_the_process_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NB_TEST_CRON", "@weekly")
    (tmp_path / "m.yaml").write_text("x")
    (tmp_path / "s.yaml").write_text("schedules:\n  - {name: a, manifest: m.yaml, cron: '${NB_TEST_CRON}'}\n")
    assert load_schedules(tmp_path / "s.yaml")[0].cron == "@weekly"


def test_unreadable_file_is_one_problem(tmp_path: Path) -> None:
    with pytest.raises(ManifestError) as caught:
        load_schedules(tmp_path / "nope.yaml")
    assert str(caught.value) == f"{tmp_path / 'nope.yaml'}: cannot read the schedules file: No such file or directory"
