"""What ``nanobatch schedules list|run`` and ``nanobatch beat`` do, over the configured database."""

from __future__ import annotations

import os
import sys
import time
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from batch.commands import service
from batch.errors import InputError
from batch.schedules.file import Schedule, find, fire_times, load_schedules, slot_iso
from batch.schedules.firing import Fired, last_run, require_path, run_now


def list_file(path: str | None, *, as_json: bool = False) -> str | list[dict[str, Any]]:
    """``nanobatch schedules list``: the table for the schedules file, with last runs from the database
    (with ``as_json``, the ``entries``)."""
    show = entries if as_json else listing
    return show(service.reading_sessions(), load_schedules(require_path(path)), time.time())


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
    from batch.logjson import celery_options

    return [sys.executable, "-m", "celery", *celery_options(os.environ), "-A", "workers", "beat", "--loglevel", "INFO",
            *extra]


def listing(sessions: sessionmaker[Session] | None, schedules: list[Schedule], now: float, count: int = 3) -> str:
    """``schedules list``: name, cron, zone, the next ``count`` fire times and the last run, as a table.

    ``sessions`` is None when there is no database yet: every schedule has then never run.
    """
    header = ("NAME", "CRON", "TZ", "NEXT", "LAST RUN")
    rows: list[tuple[str, ...]] = []
    for entry in entries(sessions, schedules, now, count):
        times = entry["next"]
        rows.append((entry["name"], entry["cron"], entry["timezone"], times[0], _last_text(entry["last_run"])))
        rows += [("", "", "", t, "") for t in times[1:]]
    if not rows:
        return "no schedules"
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in [header, *rows])


def entries(sessions: sessionmaker[Session] | None, schedules: list[Schedule], now: float,
            count: int = 3) -> list[dict[str, Any]]:
    """Each schedule as ``schedules list --json`` prints it: name, cron, zone, next fire times, last run."""
    out = []
    for schedule in schedules:
        found = last_run(sessions, schedule.name) if sessions is not None else None
        last = None
        if found is not None:
            run, running = found
            last = {"slot": slot_iso(schedule, run.slot_at), "state": run.state, "batch_id": run.batch_id,
                    "running": running and run.batch_id is not None, "detail": run.detail}
        out.append({"name": schedule.name, "cron": schedule.cron, "timezone": schedule.timezone,
                    "next": [slot_iso(schedule, t) for t in fire_times(schedule, now, count)], "last_run": last})
    return out


def _last_text(last: dict[str, Any] | None) -> str:
    if last is None:
        return "never"
    what = f"{last['slot']} {last['state']}"
    if last["batch_id"] is not None:
        return f"{what}: batch {last['batch_id']} ({'running' if last['running'] else 'done'})"
    return f"{what}: {last['detail']}" if last["detail"] else what
