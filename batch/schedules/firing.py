"""Firing schedule slots: the I/O half of ``batch.schedules`` (which decides *which* slots are due).

Why a unique row and not RedBeat (or another "only one beat" lock): a slot is started by
inserting its ``schedule_runs`` row, UNIQUE(schedule, slot_at), in the same transaction that
creates its batch. Whoever commits first owns the slot; anyone else gets an IntegrityError
and walks away. That holds for two beats running by mistake, for a beat restarted mid-pass,
for a Celery message delivered twice, and for a manual ``schedules run`` racing the beat,
and it needs nothing besides the database that already is the queue (design invariant 1).
RedBeat keeps the beat's schedule in Redis and holds a lock so that only one beat sends:
that makes duplicates unlikely, but a lock that expires while its holder pauses, or a flushed
Redis that forgets the last run, can still send a slot twice or lose it, and the task it sends
still has to be idempotent. Here the task *is* idempotent, so any plain ``celery beat`` will do.

Overlap decisions (is the schedule's previous batch still running?) are taken inside the same
transaction under a per-schedule lock: ``pg_advisory_xact_lock`` on PostgreSQL, ``BEGIN
IMMEDIATE`` (one writer at a time) on SQLite. So ``skip`` and ``queue`` hold with several beats.

Each scheduled batch writes into its own folder, ``<output_dir>/<slot stamp>`` (``output_dir``
from the manifest, default ``./out/<schedule>``), so one night never overwrites the last.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from batch.commands.batches import create_batch, default_output_dir
from batch.config import load_settings
from batch.errors import InputError, ManifestError
from batch.manifest import Manifest, load_manifest
from batch.schedules.file import (
    Schedule,
    batch_name,
    due_slots,
    load_schedules,
    slot_folder,
)
from batch.store import schedule_runs as runs
from batch.store.models import ScheduleRun
from batch.store.schedule_runs import RunState

log = logging.getLogger(__name__)
SCHEDULES_ENV = "NANOBATCH_SCHEDULES"


@dataclass(frozen=True)
class Fired:
    """The outcome of one slot this process decided (None is returned when another one did)."""

    schedule: str
    slot: float
    state: RunState
    batch_id: int | None = None
    detail: str | None = None


def schedules_path(env: Mapping[str, str] | None = None) -> Path | None:
    """The schedules file named by ``NANOBATCH_SCHEDULES``, if set."""
    return load_settings(env).schedules_file


# -- the pass -------------------------------------------------------------------------------------

def fire_schedules(sessions: sessionmaker[Session], schedules: list[Schedule], now: float) -> list[Fired]:
    """One beat's pass: release queued slots whose wait is over, then fire every due slot."""
    out: list[Fired] = []
    for schedule in schedules:
        released = release_queued(sessions, schedule, now)
        if released is not None:
            out.append(released)
        for slot in due_slots(schedule, last_slot(sessions, schedule.name), now):
            fired = fire_slot(sessions, schedule, slot, now)
            if fired is not None:
                out.append(fired)
    for item in out:
        log.info("schedule %s slot %s: %s %s", item.schedule, item.slot, item.state, item.detail or item.batch_id)
    return out


def fire_slot(sessions: sessionmaker[Session], schedule: Schedule, slot: float, now: float, *,
              manifest: Manifest | None = None, force: bool = False) -> Fired | None:
    """Record the slot and, unless the overlap policy says otherwise, create its batch, atomically.

    Returns None when the slot was already recorded (by another beat, or before a restart).
    ``force`` ignores the overlap policy (a manual run).
    """
    problem = None
    if manifest is None:
        manifest, problem = _load(schedule)
    try:
        with runs.locked(sessions, schedule.name) as (session, factory):
            busy = None if force else _busy(session, schedule.name)
            state, detail = _decide(schedule, busy, problem)
            run = runs.add_run(session, schedule.name, slot, state, detail, now)
            if state is RunState.FIRED and manifest is not None:
                runs.settle(session, run, state, batch_id=_create(factory, schedule, manifest, slot, now),
                            detail=detail)
            return Fired(schedule.name, slot, state, run.batch_id, detail)
    except IntegrityError:
        if _recorded(sessions, schedule.name, slot) is None:
            raise
        return None


def release_queued(sessions: sessionmaker[Session], schedule: Schedule, now: float) -> Fired | None:
    """Fire the schedule's oldest queued slot if its previous batch has finished."""
    with sessions() as session:
        head = runs.oldest_queued(session, schedule.name)
        if head is None or runs.running_batch(session, schedule.name) is not None:
            return None
    manifest, problem = _load(schedule)
    with runs.locked(sessions, schedule.name) as (session, factory):
        run = runs.get_run(session, head)
        if run is None or run.state != RunState.QUEUED.value or runs.running_batch(session, schedule.name):
            return None
        if manifest is None:
            runs.settle(session, run, RunState.FAILED, detail=problem)
        else:
            runs.settle(session, run, RunState.FIRED, batch_id=_create(factory, schedule, manifest, run.slot_at, now))
        return Fired(schedule.name, run.slot_at, RunState(run.state), run.batch_id, run.detail)


def run_now(sessions: sessionmaker[Session], schedule: Schedule, now: float) -> Fired:
    """Fire the schedule at once (slot = this second), whatever its overlap policy.

    Raises ManifestError when the manifest is unusable (nothing is recorded then).
    """
    manifest = _prepared(load_manifest(schedule.manifest))
    slot = float(int(now))
    fired = fire_slot(sessions, schedule, slot, now, manifest=manifest, force=True)
    if fired is not None:
        return fired
    run = _recorded(sessions, schedule.name, slot)
    assert run is not None  # fire_slot returns None only when the row exists
    return Fired(schedule.name, slot, RunState(run.state), run.batch_id, run.detail)


# -- queries --------------------------------------------------------------------------------------

def last_slot(sessions: sessionmaker[Session], name: str) -> float | None:
    """The newest slot recorded for the schedule (fired, skipped, queued or failed)."""
    with sessions() as session:
        return runs.last_slot(session, name)


def last_run(sessions: sessionmaker[Session], name: str) -> tuple[ScheduleRun, bool] | None:
    """The newest run of the schedule and whether its batch is still running."""
    with sessions() as session:
        run = runs.newest_run(session, name)
        if run is None:
            return None
        running = run.batch_id is not None and runs.unfinished(session, run.batch_id)
    return run, running


def _recorded(sessions: sessionmaker[Session], name: str, slot: float) -> ScheduleRun | None:
    with sessions() as session:
        return runs.recorded(session, name, slot)


def _busy(session: Session, name: str) -> str | None:
    """Why a new slot of this schedule cannot start now (None: it can)."""
    running = runs.running_batch(session, name)
    if running is not None:
        return f"batch {running} still running"
    queued = runs.queued_count(session, name)
    return f"{queued} earlier slot(s) queued" if queued else None


def _decide(schedule: Schedule, busy: str | None, problem: str | None) -> tuple[RunState, str | None]:
    if busy is not None:
        if schedule.overlap == "queue":
            return RunState.QUEUED, f"waits: {busy}"
        return RunState.SKIPPED, f"overlap skip: {busy}"
    if problem is not None:
        return RunState.FAILED, problem
    return RunState.FIRED, None


def _load(schedule: Schedule) -> tuple[Manifest | None, str | None]:
    """The schedule's manifest, or why it cannot be used (recorded on the slot, never retried)."""
    try:
        return _prepared(load_manifest(schedule.manifest)), None
    except ManifestError as exc:
        log.error("schedule %s: manifest %s is unusable:\n%s", schedule.name, schedule.manifest, exc)
        return None, f"manifest unusable: {exc}"


def _prepared(manifest: Manifest) -> Manifest:
    """The manifest, its local input files uploaded to its bucket (raises ManifestError if that fails)."""
    if manifest.uploads:
        from batch.storage.prepare import upload_inputs

        upload_inputs(manifest)
    return manifest


def _create(factory: sessionmaker[Session], schedule: Schedule, manifest: Manifest, slot: float, now: float) -> int:
    base = manifest.output_dir or default_output_dir(schedule.name)
    folder = slot_folder(schedule, slot)
    url = manifest.output_url and f"{manifest.output_url}/{folder}"  # each run in its own bucket folder too
    per_run = dataclasses.replace(manifest, output_dir=str(Path(base) / folder), output_url=url)
    return create_batch(factory, per_run, now=now, name=batch_name(schedule, slot))


# -- entry points for the CLI and the Celery task ---------------------------------------------------

def require_path(path: str | None) -> Path:
    """``--file`` or ``NANOBATCH_SCHEDULES``; an InputError when neither is given."""
    found = Path(path) if path else schedules_path()
    if found is None:
        raise InputError(f"no schedules file: pass --file or set {SCHEDULES_ENV}")
    return found


def fire_configured(sessions: sessionmaker[Session], now: float) -> list[Fired]:
    """The periodic task's body: fire the schedules of ``NANOBATCH_SCHEDULES`` (nothing when unset)."""
    path = schedules_path()
    if path is None:
        return []
    try:
        schedules = load_schedules(path)
    except ManifestError as exc:
        log.error("schedules file %s is unusable; nothing fired:\n%s", path, exc)
        return []
    return fire_schedules(sessions, schedules, now)

