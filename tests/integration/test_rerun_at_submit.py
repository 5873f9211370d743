"""A rerun's cached jobs end at submit, in bulk (``batch.commands.cached``), with the files checked."""

from __future__ import annotations

import time
from pathlib import Path

from sqlalchemy import select

from batch.commands.batches import create_batch
from batch.commands.cached import finish_cached
from batch.engine.tick import drain
from batch.manifest import load_manifest
from batch.simulator import SimulatorConfig, running_simulator
from batch.store.models import Batch, Job, JobEvent, Output
from batch.store.queries import batch_status
from tests.conftest import Backend
from tests.helpers import make_runtime, make_settings, write_manifest


def test_a_rerun_is_finished_at_submit_without_a_tick(tmp_path: Path, backend: Backend) -> None:
    with running_simulator(SimulatorConfig(latency=(0.0, 0.0), workers=8)) as sim:
        rt = make_runtime(make_settings(tmp_path, backend.db_url, sim.base_url), backend.redis_url)
        manifest = load_manifest(write_manifest(tmp_path, sim.base_url, items=3, styles=2))
        first = create_batch(rt.sessions, manifest, now=time.time())
        drain(rt, first, timeout=60)
        second = create_batch(rt.sessions, manifest, now=time.time())
        seen: list[tuple[int, int]] = []
        with rt.sessions() as s:
            out_dir = s.get(Batch, second).output_dir  # type: ignore[union-attr]
        moved = finish_cached(rt.sessions, second, out_dir, on_progress=lambda d, t: seen.append((d, t)))
        assert sim.stats()["submits"] == 6
    status = batch_status(rt.sessions, second)
    assert moved == 6 and status is not None and status.counts == {"cached": 6}  # no tick ran
    assert seen[-1] == (6, 6)
    with rt.sessions() as s:
        outputs = s.scalars(select(Output).join(Job).where(Job.batch_id == second)).all()
        events = s.scalars(select(JobEvent).join(Job).where(Job.batch_id == second)).all()
        leftover = s.scalars(select(Job).where(Job.batch_id == second, Job.lease_owner.is_not(None))).all()
    assert len(outputs) == 6 and all(Path(o.path).exists() for o in outputs)
    assert [(e.from_state, e.to_state) for e in events] == [("pending", "cached")] * 6
    assert all(e.detail and e.detail.startswith("reused the files of job") for e in events)
    assert not leftover


def test_a_tampered_file_is_not_reused_and_a_renamed_job_gets_a_copy(tmp_path: Path, sqlite_url: str) -> None:
    with running_simulator(SimulatorConfig(latency=(0.0, 0.0))) as sim:
        rt = make_runtime(make_settings(tmp_path, sqlite_url, sim.base_url))
        first = create_batch(rt.sessions, load_manifest(write_manifest(tmp_path, sim.base_url, items=2, styles=1)),
                             now=time.time())
        drain(rt, first, timeout=30)
        with rt.sessions() as s:
            victim = s.scalars(select(Output).order_by(Output.id)).first()
        assert victim is not None
        data = bytearray(Path(victim.path).read_bytes())
        data[-1] ^= 0xFF  # same size, other bytes: only the hash tells
        Path(victim.path).write_bytes(bytes(data))
        (tmp_path / "v2").mkdir()
        renamed = load_manifest(write_manifest(tmp_path / "v2", sim.base_url, items=2, styles=1))
        second = create_batch(rt.sessions, renamed, now=time.time())
        moved = finish_cached(rt.sessions, second, str(tmp_path / "v2" / "out"))
        status = batch_status(rt.sessions, second)
        assert moved == 1 and status is not None and status.counts == {"cached": 1, "pending": 1}
        drain(rt, second, timeout=30)  # the tampered one is paid for again
        assert sim.stats()["submits"] == 3
    assert sorted(p.name for p in (tmp_path / "v2" / "out").rglob("*.png")) == ["s0.png", "s0.png"]


def test_jobs_a_worker_holds_are_left_to_it(tmp_path: Path, sqlite_url: str) -> None:
    with running_simulator(SimulatorConfig(latency=(0.0, 0.0))) as sim:
        rt = make_runtime(make_settings(tmp_path, sqlite_url, sim.base_url))
        manifest = load_manifest(write_manifest(tmp_path, sim.base_url, items=2, styles=1))
        drain(rt, create_batch(rt.sessions, manifest, now=time.time()), timeout=30)
    second = create_batch(rt.sessions, manifest, now=time.time())
    with rt.sessions.begin() as s:
        held = s.scalars(select(Job).where(Job.batch_id == second).order_by(Job.id)).first()
        assert held is not None
        held.lease_owner, held.lease_until = "worker", time.time() + 600
    assert finish_cached(rt.sessions, second, str(tmp_path / "out")) == 1
    assert batch_status(rt.sessions, second).counts == {"cached": 1, "pending": 1}  # type: ignore[union-attr]
