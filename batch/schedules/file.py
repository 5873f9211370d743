"""Schedules: a YAML file of cron entries, their fire times, and which slots are due (pure, no I/O).

The file (``NANOBATCH_SCHEDULES``, see ``schedules.example.yaml``)::

    schedules:
      - name: nightly-catalog          # letters, digits, . _ - (used in batch names)
        manifest: jobs.example.yaml    # relative to this file
        cron: "0 2 * * *"              # 5 fields, or @hourly/@daily/@weekly/@monthly/@yearly
        timezone: Europe/Berlin        # an IANA zone (default UTC)
        overlap: skip                  # previous batch still running: skip | queue
        catch_up: latest               # missed slots: none | latest | all
        catch_up_max: 3                # with catch_up: all, run at most this many missed slots

A *slot* is one fire time, a whole UNIX second. Times are wall-clock times in the schedule's
zone, as croniter computes them: a time that does not exist (the spring-forward gap) fires at
the end of the gap (02:30 -> 03:00), so a nightly run is never lost; a wall-clock time that
occurs twice (clocks fall back) fires once, at its first occurrence.

The newest slot is *on time* while it is at most ``GRACE_SECONDS`` old; every older slot not
yet recorded was *missed* (the beat was down) and the catch-up policy decides which still run.
Problems are reported like the manifest's: ``ManifestError`` listing ``file:line: field: message``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter

from batch.errors import ManifestError
from batch.manifest import Problem
from batch.manifest.checks import check_keys, get_list, get_positive, get_string, join, type_name
from batch.manifest.model import ProblemLog
from batch.manifest.yamlsrc import YList, YMap, load_yaml

OVERLAP_POLICIES = ("skip", "queue")
CATCH_UP_POLICIES = ("none", "latest", "all")
ENTRY_KEYS = ("name", "manifest", "cron", "timezone", "overlap", "catch_up", "catch_up_max")
CRON_ALIASES = ("@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly")
DEFAULT_CATCH_UP_MAX = 10
GRACE_SECONDS = 300.0
MAX_NAME_LENGTH = 100
_NAME_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]*")


@dataclass(frozen=True)
class Schedule:
    """One validated schedule entry; ``manifest`` is an absolute path."""

    name: str
    manifest: str
    cron: str
    timezone: str = "UTC"
    overlap: str = "skip"
    catch_up: str = "latest"
    catch_up_max: int = DEFAULT_CATCH_UP_MAX
    line: int = 0

    @property
    def zone(self) -> ZoneInfo:
        """The schedule's time zone."""
        return ZoneInfo(self.timezone)

    def local(self, instant: float) -> datetime:
        """``instant`` as an aware datetime in the schedule's zone."""
        return datetime.fromtimestamp(instant, self.zone)


# -- fire times ---------------------------------------------------------------------------------

def _repeated(schedule: Schedule, instant: float) -> bool:
    """True when ``instant`` is the second occurrence of its wall-clock time (clocks fell back)."""
    return schedule.local(instant).fold == 1


def fire_times(schedule: Schedule, after: float, count: int) -> list[float]:
    """The next ``count`` slots strictly after ``after``."""
    it = croniter(schedule.cron, schedule.local(after))
    out: list[float] = []
    while len(out) < count:
        slot = float(it.get_next(float))
        if slot > after and not _repeated(schedule, slot):
            out.append(slot)
    return out


def slots_between(schedule: Schedule, start: float, end: float) -> list[float]:
    """Every slot ``t`` with ``start < t <= end``, oldest first."""
    it = croniter(schedule.cron, schedule.local(start))
    out: list[float] = []
    while True:
        slot = float(it.get_next(float))
        if slot > end:
            return out
        if slot > start and not _repeated(schedule, slot):
            out.append(slot)


def last_slots(schedule: Schedule, start: float, end: float, count: int) -> list[float]:
    """The newest ``count`` slots with ``start < t <= end``, oldest first (bounded work, any gap)."""
    if count <= 0 or end <= start:
        return []
    it = croniter(schedule.cron, schedule.local(end + 1))
    found: list[float] = []
    while len(found) < count:
        slot = float(it.get_prev(float))
        if slot <= start:
            break
        if slot <= end and not _repeated(schedule, slot) and slot not in found:
            found.append(slot)
    return sorted(found)


def due_slots(schedule: Schedule, since: float | None, now: float, grace: float = GRACE_SECONDS) -> list[float]:
    """The slots to fire now, oldest first, given the newest slot already recorded (``since``).

    Only the newest slot up to ``now`` can be on time (at most ``grace`` old); it always fires.
    Every older unrecorded slot was missed and follows ``catch_up``: ``none`` drops them,
    ``latest`` keeps the newest, ``all`` keeps the newest ``catch_up_max``. A schedule with no
    history (``since`` None) has nothing missed: only an on-time slot fires.
    """
    start = now - grace if since is None else since
    newest = last_slots(schedule, start, now, 1)
    on_time = [t for t in newest if now - t <= grace]
    if since is None:
        return on_time
    keep = {"none": 0, "latest": 1, "all": schedule.catch_up_max}[schedule.catch_up]
    missed_until = on_time[0] - 0.5 if on_time else now
    return last_slots(schedule, since, missed_until, keep) + on_time


def slot_iso(schedule: Schedule, slot: float) -> str:
    """The slot as ISO 8601 in the schedule's zone, e.g. ``2026-11-26T02:00:00+01:00``."""
    return schedule.local(slot).isoformat(timespec="seconds")


def batch_name(schedule: Schedule, slot: float) -> str:
    """The name of the batch a slot makes: ``<schedule>@<slot ISO time>``."""
    return f"{schedule.name}@{slot_iso(schedule, slot)}"


def slot_folder(schedule: Schedule, slot: float) -> str:
    """A file-name-safe stamp of the slot (``20261126T020000+0100``), one output folder per run."""
    return schedule.local(slot).strftime("%Y%m%dT%H%M%S%z")


def find(schedules: list[Schedule], name: str) -> Schedule | None:
    """The schedule called ``name``, if any."""
    return next((s for s in schedules if s.name == name), None)


# -- parsing ------------------------------------------------------------------------------------

def load_schedules(path: str | Path, env: Mapping[str, str] | None = None) -> list[Schedule]:
    """Read and validate a schedules file; raises ManifestError listing every problem.

    ``env`` (default ``os.environ``) answers ``${NAME}`` references, as in manifests.
    """
    shown = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as err:
        reason = err.strerror if isinstance(err, OSError) and err.strerror else str(err)
        raise ManifestError([Problem(shown, 0, "", f"cannot read the schedules file: {reason}")]) from None
    return parse_schedules(text, shown, Path(path).parent.resolve(), os.environ if env is None else env,
                           exists=lambda p: p.is_file())


def parse_schedules(text: str, filename: str, base_dir: Path, env: Mapping[str, str],
                    exists: Callable[[Path], bool] = lambda _: True) -> list[Schedule]:
    """Validate schedules ``text``; manifest paths resolve against ``base_dir`` and must pass ``exists``."""
    log = ProblemLog(filename)
    doc = load_yaml(text, env, log)
    entries = _entries(doc, log)
    found: list[Schedule] = []
    seen: dict[str, int] = {}
    for index, entry in enumerate(entries):
        field = f"schedules[{index}]"
        if not isinstance(entry, YMap):
            log.add(entries.line_of(index), field, f"must be a mapping, not {type_name(entry)}")
            continue
        schedule = _entry(entry, field, base_dir, exists, log)
        if schedule is None:
            continue
        if schedule.name in seen:
            log.add(schedule.line, join(field, "name"),
                    f"duplicate schedule name (first at line {seen[schedule.name]})")
        seen.setdefault(schedule.name, schedule.line)
        found.append(schedule)
    log.raise_if_any()
    return found


def _entries(doc: object, log: ProblemLog) -> YList:
    """The ``schedules:`` list of the document (empty, with a problem logged, when it is unusable)."""
    if not isinstance(doc, YMap):
        if log.count == 0:
            log.add(1, "", f"the file must be a mapping with a schedules: list, but it is {type_name(doc)}")
        return YList(0)
    check_keys(doc, ("schedules",), "", log)
    entries = get_list(doc, "schedules", "", log)
    if entries is None:
        if "schedules" not in doc:
            log.add(doc.line, "schedules", "required: a list of schedules")
        return YList(0)
    return entries


def _entry(entry: YMap, field: str, base_dir: Path, exists: Callable[[Path], bool],
           log: ProblemLog) -> Schedule | None:
    before = log.count
    check_keys(entry, ENTRY_KEYS, field, log)
    name = _name(entry, field, log)
    manifest = _manifest(entry, field, base_dir, exists, log)
    cron = _cron(entry, field, log)
    zone = _zone(entry, field, log)
    overlap = _choice(entry, "overlap", field, OVERLAP_POLICIES, "skip", log)
    catch_up = _choice(entry, "catch_up", field, CATCH_UP_POLICIES, "latest", log)
    catch_up_max = get_positive(entry, "catch_up_max", field, log, integer=True)
    if log.count > before or not (name and manifest and cron):
        return None
    return Schedule(name, manifest, cron, zone, overlap, catch_up, catch_up_max or DEFAULT_CATCH_UP_MAX,
                    line=entry.line_of("name"))


def _name(entry: YMap, field: str, log: ProblemLog) -> str | None:
    name = get_string(entry, "name", field, log, required=True)
    if name is not None and (len(name) > MAX_NAME_LENGTH or not _NAME_RE.fullmatch(name)):
        log.add(entry.line_of("name"), join(field, "name"),
                f"{name!r} must be 1-{MAX_NAME_LENGTH} of A-Z a-z 0-9 . _ - (not starting with . or -)")
        return None
    return name


def _manifest(entry: YMap, field: str, base_dir: Path, exists: Callable[[Path], bool],
              log: ProblemLog) -> str | None:
    raw = get_string(entry, "manifest", field, log, required=True)
    if raw is None:
        return None
    path = (base_dir / Path(raw).expanduser()).resolve()
    if not exists(path):
        log.add(entry.line_of("manifest"), join(field, "manifest"), f"no such file: {path}")
        return None
    return str(path)


def _cron(entry: YMap, field: str, log: ProblemLog) -> str | None:
    expr = get_string(entry, "cron", field, log, required=True)
    if expr is None:
        return None
    expr = " ".join(expr.split())
    fields_ok = expr in CRON_ALIASES or len(expr.split()) == 5
    if fields_ok and croniter.is_valid(expr):
        return expr
    log.add(entry.line_of("cron"), join(field, "cron"),
            f"{expr!r} is not a cron expression: give 5 fields (minute hour day month weekday), "
            f"e.g. '0 2 * * *', or one of {', '.join(CRON_ALIASES)}")
    return None


def _zone(entry: YMap, field: str, log: ProblemLog) -> str:
    raw = entry.get("timezone", "UTC")
    if isinstance(raw, str):
        try:
            ZoneInfo(raw)
            return raw
        except (ZoneInfoNotFoundError, ValueError):
            pass
    log.add(entry.line_of("timezone"), join(field, "timezone"),
            f"{raw!r} is not a known time zone (an IANA name such as UTC or Europe/Berlin)")
    return "UTC"


def _choice(entry: YMap, key: str, field: str, allowed: tuple[str, ...], default: str, log: ProblemLog) -> str:
    value = entry.get(key, default)
    if value in allowed:
        return str(value)
    log.add(entry.line_of(key), join(field, key), f"must be one of {', '.join(allowed)}, not {value!r}")
    return default
