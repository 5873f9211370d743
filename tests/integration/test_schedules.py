"""Schedules against a real database: one batch per slot whatever races, overlap, the CLI, Celery beat."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from batch.schedules.file import load_schedules
from batch.schedules.firing import RunState, fire_schedules, fire_slot, run_now
from batch.simulator import SimulatorHandle
from batch.store import db
from batch.store.models import Batch, Job, ScheduleRun
from batch.testing.cluster import cluster_env, running_cluster, wait_until
from tests.conftest import Backend
from tests.helpers import write_manifest

SLOT = datetime(2026, 6, 1, 2, 0, tzinfo=UTC).timestamp()
DAY = 86400.0
NO_API = "http://127.0.0.1:9"  # these batches are never run: any non-RunComfy base will do


def schedules_file(folder: Path, cron: str = "0 2 * * *", **fields: str) -> Path:
    """A manifest (2 x 2 jobs) and a schedules file with one schedule, ``nightly``, using it."""
    write_manifest(folder, NO_API, items=2, styles=2, name="catalog")
    extra = "".join(f"\n    {key}: {value}" for key, value in fields.items())
    path = folder / "schedules.yaml"
    path.write_text(f"schedules:\n  - name: nightly\n    manifest: jobs.yaml\n    cron: '{cron}'{extra}\n")
    return path


def runs(sessions: sessionmaker[Session]) -> list[tuple[float, str, int | None]]:
    with sessions() as session:
        rows = session.scalars(select(ScheduleRun).order_by(ScheduleRun.slot_at, ScheduleRun.id)).all()
    return [(r.slot_at, r.state, r.batch_id) for r in rows]


def batches(sessions: sessionmaker[Session]) -> list[Batch]:
    with sessions() as session:
        return list(session.scalars(select(Batch).order_by(Batch.id)))


def finish(sessions: sessionmaker[Session], batch_id: int) -> None:
    """Mark every job of the batch succeeded (as if the workers had run it)."""
    with db.transaction(sessions) as session:
        session.execute(update(Job).where(Job.batch_id == batch_id).values(state="succeeded"))


def test_two_beats_and_a_restart_fire_each_slot_once(tmp_path: Path, backend: Backend) -> None:
    path = schedules_file(tmp_path)
    sessions = db.session_factory(backend.db_url)
    schedules = load_schedules(path)
    for day in range(3):
        now = SLOT + day * DAY + 5
        barrier = threading.Barrier(2)
        errors: list[BaseException] = []

        def beat(now: float, barrier: threading.Barrier, errors: list[BaseException]) -> None:
            try:
                barrier.wait()
                fire_schedules(sessions, schedules, now)
            except BaseException as exc:  # pragma: no cover - reported below
                errors.append(exc)

        threads = [threading.Thread(target=beat, args=(now, barrier, errors)) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
        db.dispose_engines()  # a restarted beat: new engine, new connections, same slot
        restarted = db.session_factory(backend.db_url)
        assert fire_schedules(restarted, load_schedules(path), now + 30) == []
        made = batches(restarted)
        assert len(made) == day + 1
        finish(restarted, made[-1].id)
    assert [r[1] for r in runs(sessions)] == ["fired"] * 3
    assert [b.name for b in batches(sessions)] == [
        "nightly@2026-06-01T02:00:00+00:00", "nightly@2026-06-02T02:00:00+00:00", "nightly@2026-06-03T02:00:00+00:00"]
    assert batches(sessions)[0].output_dir == str(tmp_path / "out" / "20260601T020000+0000")


def test_many_threads_racing_for_one_slot(tmp_path: Path, backend: Backend) -> None:
    sessions = db.session_factory(backend.db_url)
    (schedule,) = load_schedules(schedules_file(tmp_path))
    results: list[object] = []
    barrier = threading.Barrier(6)

    def race() -> None:
        barrier.wait()
        results.append(fire_slot(sessions, schedule, SLOT, SLOT + 1))

    threads = [threading.Thread(target=race) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 6 and sum(r is not None for r in results) == 1
    assert len(batches(sessions)) == 1 and len(runs(sessions)) == 1


def test_overlap_skip(tmp_path: Path, backend: Backend) -> None:
    sessions = db.session_factory(backend.db_url)
    schedules = load_schedules(schedules_file(tmp_path, overlap="skip"))
    first = fire_schedules(sessions, schedules, SLOT + 1)
    skipped = fire_schedules(sessions, schedules, SLOT + DAY + 1)  # the first batch is still running
    assert [f.state for f in first + skipped] == [RunState.FIRED, RunState.SKIPPED]
    assert skipped[0].detail == f"overlap skip: batch {first[0].batch_id} still running"
    finish(sessions, first[0].batch_id or 0)
    third = fire_schedules(sessions, schedules, SLOT + 2 * DAY + 1)
    assert [f.state for f in third] == [RunState.FIRED]
    assert len(batches(sessions)) == 2


def test_overlap_queue_runs_queued_slots_one_after_another(tmp_path: Path, backend: Backend) -> None:
    sessions = db.session_factory(backend.db_url)
    schedules = load_schedules(schedules_file(tmp_path, overlap="queue"))
    fire_schedules(sessions, schedules, SLOT + 1)
    fire_schedules(sessions, schedules, SLOT + DAY + 1)
    fire_schedules(sessions, schedules, SLOT + 2 * DAY + 1)
    assert [r[1] for r in runs(sessions)] == ["fired", "queued", "queued"]
    assert fire_schedules(sessions, schedules, SLOT + 2 * DAY + 60) == []  # still running: nothing moves
    now = SLOT + 2 * DAY + 120
    for released_slot in (SLOT + DAY, SLOT + 2 * DAY):
        finish(sessions, batches(sessions)[-1].id)
        (released,) = fire_schedules(sessions, schedules, now)
        assert (released.state, released.slot) == (RunState.FIRED, released_slot)
        assert batches(sessions)[-1].name == f"nightly@{datetime.fromtimestamp(released_slot, UTC).isoformat()}"
    assert [r[1] for r in runs(sessions)] == ["fired"] * 3
    assert len(batches(sessions)) == 3


def test_catch_up_all_after_downtime_with_queue(tmp_path: Path, backend: Backend) -> None:
    sessions = db.session_factory(backend.db_url)
    schedules = load_schedules(schedules_file(tmp_path, overlap="queue", catch_up="all", catch_up_max="2"))
    fire_schedules(sessions, schedules, SLOT + 1)
    finish(sessions, batches(sessions)[0].id)
    fired = fire_schedules(sessions, schedules, SLOT + 5 * DAY + 1)  # 3 missed (2 kept) + 1 on time
    assert [(f.slot, f.state) for f in fired] == [
        (SLOT + 3 * DAY, RunState.FIRED), (SLOT + 4 * DAY, RunState.QUEUED), (SLOT + 5 * DAY, RunState.QUEUED)]


def test_unusable_manifest_is_recorded_failed_once(tmp_path: Path, backend: Backend) -> None:
    sessions = db.session_factory(backend.db_url)
    schedules = load_schedules(schedules_file(tmp_path))
    (tmp_path / "jobs.yaml").write_text("name: broken\n")
    (failed,) = fire_schedules(sessions, schedules, SLOT + 1)
    assert failed.state is RunState.FAILED and "the manifest makes no jobs" in (failed.detail or "")
    assert fire_schedules(sessions, schedules, SLOT + 60) == [] and batches(sessions) == []


def test_manual_run_ignores_overlap(tmp_path: Path, backend: Backend) -> None:
    sessions = db.session_factory(backend.db_url)
    (schedule,) = load_schedules(schedules_file(tmp_path, overlap="skip"))
    first, second = run_now(sessions, schedule, SLOT + 10), run_now(sessions, schedule, SLOT + 20)
    assert first.batch_id != second.batch_id and second.state is RunState.FIRED
    assert run_now(sessions, schedule, SLOT + 20.5).batch_id == second.batch_id  # same second: same slot


def _cli(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "batch", *args], env=env, capture_output=True, text=True,
                          timeout=60, check=False)


def test_cli_schedules_run_and_list(tmp_path: Path, backend: Backend) -> None:
    path = schedules_file(tmp_path)
    env = cluster_env(home=tmp_path / "home", db_url=backend.db_url, redis_url=backend.redis_url, api_base=NO_API)
    done = _cli(["schedules", "run", "nightly", "--file", str(path)], env)
    assert done.returncode == 0, done.stderr
    batch_id = int(done.stdout)
    sessions = db.session_factory(backend.db_url)
    (made,) = batches(sessions)
    assert made.id == batch_id and made.name.startswith("nightly@")
    assert runs(sessions) == [(runs(sessions)[0][0], "fired", batch_id)]
    listed = _cli(["schedules", "list"], {**env, "NANOBATCH_SCHEDULES": str(path)})
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.splitlines()[0].split() == ["NAME", "CRON", "TZ", "NEXT", "LAST", "RUN"]
    assert f"fired: batch {batch_id} (running)" in listed.stdout
    missing = _cli(["schedules", "run", "weekly", "--file", str(path)], env)
    assert missing.returncode == 2 and "no schedule named 'weekly' (known: nightly)" in missing.stderr


@pytest.mark.slow
def test_beat_fires_a_schedule_through_celery(tmp_path: Path, backend: Backend, sim: SimulatorHandle) -> None:
    write_manifest(tmp_path, sim.base_url, items=1, styles=2, name="minutely")
    path = tmp_path / "schedules.yaml"
    path.write_text("schedules:\n  - {name: minutely, manifest: jobs.yaml, cron: '* * * * *'}\n")
    env = cluster_env(home=tmp_path / "home", db_url=backend.db_url, redis_url=backend.redis_url,
                      api_base=sim.base_url, NANOBATCH_SCHEDULES=str(path), NANOBATCH_SCHEDULE_SECONDS="1",
                      NANOBATCH_TICK_SECONDS="0.5", NANOBATCH_LEASE_SECONDS="5")
    sessions = db.session_factory(backend.db_url)

    def one_batch_done() -> bool:
        made = batches(sessions)
        if not made:
            return False
        with sessions() as session:
            states = session.scalars(select(Job.state).where(Job.batch_id == made[0].id)).all()
        return bool(states) and set(states) == {"succeeded"}

    with running_cluster(env, tmp_path / "logs") as cluster:
        cluster.beat()
        cluster.worker("w1", concurrency=4)
        ok = wait_until(one_batch_done, timeout=60)
        assert ok, cluster.log_tail()
    assert batches(sessions)[0].name.startswith("minutely@")
    assert all(state in ("fired", "skipped") for _, state, _ in runs(sessions))
    assert os.path.isdir(batches(sessions)[0].output_dir)
