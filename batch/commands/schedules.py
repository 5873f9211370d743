"""What ``nanobatch schedules list|run`` and ``nanobatch beat`` do, over the configured database."""

from __future__ import annotations

import sys
import time

from sqlalchemy.orm import Session, sessionmaker

from batch.commands import service
from batch.errors import InputError
from batch.schedules.file import Schedule, find, fire_times, load_schedules, slot_iso
from batch.schedules.firing import Fired, last_run, require_path, run_now


def list_file(path: str | None) -> str:
    """``nanobatch schedules list``: the table for the schedules file, with last runs from the database."""
    return listing(service.reading_sessions(), load_schedules(require_path(path)), time.time())


def run_file(path: str | None, name: str) -> Fired:
    """``nanobatch schedules run NAME``: fire it now against the configured database."""
    schedules = load_schedules(require_path(path))
    schedule = find(schedules, name)
    if schedule is None:
        known = ", ".join(s.name for s in schedules) or "none"
        raise InputError(f"no schedule named {name!r} (known: {known})")
    cfg = service.settings()
    if cfg.is_real_api:
        cfg.require_token()
    fired = run_now(service.sessions(), schedule, time.time())
    if fired.batch_id is None:
        raise InputError(f"schedule {name!r}: this second's slot is already recorded as {fired.state}")
    return fired


def beat_command(extra: list[str]) -> list[str]:
    """The ``celery beat`` command line ``nanobatch beat`` runs (extra arguments appended)."""
    return [sys.executable, "-m", "celery", "-A", "workers", "beat", "--loglevel", "INFO", *extra]


def listing(sessions: sessionmaker[Session] | None, schedules: list[Schedule], now: float, count: int = 3) -> str:
    """``schedules list``: name, cron, zone, the next ``count`` fire times and the last run, as a table.

    ``sessions`` is None when there is no database yet: every schedule has then never run.
    """
    header = ("NAME", "CRON", "TZ", "NEXT", "LAST RUN")
    rows: list[tuple[str, ...]] = []
    for schedule in schedules:
        times = [slot_iso(schedule, t) for t in fire_times(schedule, now, count)]
        rows.append((schedule.name, schedule.cron, schedule.timezone, times[0], _last_text(sessions, schedule)))
        rows += [("", "", "", t, "") for t in times[1:]]
    if not rows:
        return "no schedules"
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in [header, *rows])


def _last_text(sessions: sessionmaker[Session] | None, schedule: Schedule) -> str:
    found = last_run(sessions, schedule.name) if sessions is not None else None
    if found is None:
        return "never"
    run, running = found
    what = f"{slot_iso(schedule, run.slot_at)} {run.state}"
    if run.batch_id is not None:
        return f"{what}: batch {run.batch_id} ({'running' if running else 'done'})"
    return f"{what}: {run.detail}" if run.detail else what
