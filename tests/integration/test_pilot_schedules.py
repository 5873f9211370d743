"""Schedules honour the pilot (issue 22): each night's batch runs its own pilot, and its gate decides
alone in the workers' periodic pass (``engine.notify.notify_finished``), or tells that it is ready."""

from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy import select

from batch.engine.notify import notify_finished
from batch.engine.tick import drain
from batch.schedules.file import load_schedules
from batch.schedules.firing import RunState, fire_schedules
from batch.simulator import SimulatorHandle
from batch.store.models import Job
from tests.conftest import Backend
from tests.helpers import make_runtime, make_settings, submit_manifest, write_manifest
from tests.integration.test_schedules import DAY, SLOT

ITEMS, STYLES, PILOT = 6, 2, 4
DONE = {"succeeded", "cached"}


def _jobs(rt_sessions: object, batch_id: int) -> list[tuple[str, str, bool]]:
    with rt_sessions() as session:  # type: ignore[operator]
        rows = session.execute(select(Job.key, Job.state, Job.pilot).where(Job.batch_id == batch_id)
                               .order_by(Job.id)).all()
    return [(key, state, pilot) for key, state, pilot in rows]


def test_each_nights_batch_runs_its_own_pilot_and_its_gate_goes_on_alone(tmp_path: Path, backend: Backend,
                                                                        sim: SimulatorHandle) -> None:
    write_manifest(tmp_path, sim.base_url, items=ITEMS, styles=STYLES, name="catalog",
                   extra=f"pilot: {{size: {PILOT}, gate: {{max_failed: 10%}}}}\n")
    schedules = tmp_path / "schedules.yaml"
    schedules.write_text("schedules:\n  - {name: nightly, manifest: jobs.yaml, cron: '0 2 * * *'}\n")
    rt = make_runtime(make_settings(tmp_path, backend.db_url, sim.base_url), backend.redis_url)
    made: list[int] = []
    for night in range(2):
        fired = fire_schedules(rt.sessions, load_schedules(schedules), SLOT + night * DAY + 1)
        assert [f.state for f in fired] == [RunState.FIRED]
        batch_id = fired[0].batch_id or 0
        made.append(batch_id)
        jobs = _jobs(rt.sessions, batch_id)
        assert sum(pilot for _, _, pilot in jobs) == PILOT
        assert {state for _, state, pilot in jobs if not pilot} == {"parked"}  # the rest waits, unpaid
        drain(rt, batch_id)
        assert {state for _, state, pilot in _jobs(rt.sessions, batch_id) if pilot} <= DONE  # night 2: cached
        assert {state for _, state, pilot in _jobs(rt.sessions, batch_id) if not pilot} == {"parked"}
        notify_finished(rt.sessions, rt.clock())  # the gate: no failure in the pilot, the rest goes on
        drain(rt, batch_id)
        assert {state for _, state, _ in _jobs(rt.sessions, batch_id)} <= DONE
    first, second = (_jobs(rt.sessions, b) for b in made)
    assert [(key, pilot) for key, _, pilot in first] == [(key, pilot) for key, _, pilot in second]  # same sample


def test_a_review_gate_says_once_that_the_pilot_is_ready_and_waits(tmp_path: Path, sqlite_url: str,
                                                                   sim: SimulatorHandle) -> None:
    notes = tmp_path / "notes.jsonl"
    manifest = write_manifest(tmp_path, sim.base_url, items=ITEMS, styles=STYLES,
                              extra=f"pilot: {{size: {PILOT}, gate: review}}\n"
                                    f"notify: {{command: \"cat >> {notes}; echo >> {notes}\"}}\n")
    rt = make_runtime(make_settings(tmp_path, sqlite_url, sim.base_url))
    batch_id = submit_manifest(rt, manifest, rt.clock())
    notify_finished(rt.sessions, rt.clock())
    assert not notes.exists()  # the pilot has not ended yet
    drain(rt, batch_id)
    for _ in range(3):
        notify_finished(rt.sessions, rt.clock())
    received = [json.loads(line) for line in notes.read_text().splitlines() if line.strip()]
    ready = ("pilot", f"pilot {PILOT}/{PILOT} done, waiting for approval")
    assert [(n["event"], n["pilot"]) for n in received] == [ready]  # once, though three passes ran
    assert {state for _, state, pilot in _jobs(rt.sessions, batch_id) if not pilot} == {"parked"}  # still waits
