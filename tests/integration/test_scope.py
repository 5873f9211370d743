"""A run advances only its own batch: the tick's batch scope, in process and through the CLI."""

from __future__ import annotations

import time
from pathlib import Path

from sqlalchemy import select

from batch.commands.batches import create_batch
from batch.engine.steps import advance_all
from batch.engine.tick import tick
from batch.manifest import load_manifest
from batch.simulator import SimulatorConfig, running_simulator
from batch.simulator.journal import body_sha256
from batch.store.models import Job
from batch.store.queries import batch_status
from tests.conftest import Backend
from tests.helpers import journal_submits, make_runtime, make_settings, write_manifest


def _manifest(folder: Path, sim_url: str, name: str, fmt: str) -> Path:
    folder.mkdir()
    return write_manifest(folder, sim_url, items=2, styles=2, name=name, fmt=fmt)


def test_a_scoped_tick_leaves_other_batches_untouched(tmp_path: Path, backend: Backend) -> None:
    journal = tmp_path / "journal.jsonl"
    with running_simulator(SimulatorConfig(latency=(0.0, 0.0), journal=journal, journal_flush_seconds=0.05)) as sim:
        rt = make_runtime(make_settings(tmp_path, backend.db_url, sim.base_url), backend.redis_url)
        alpha_manifest = load_manifest(_manifest(tmp_path / "alpha", sim.base_url, "alpha", "jpeg"))
        alpha = create_batch(rt.sessions, alpha_manifest, now=time.time())
        beta_manifest = load_manifest(_manifest(tmp_path / "beta", sim.base_url, "beta", "png"))
        beta = create_batch(rt.sessions, beta_manifest, now=time.time())
        deadline = time.monotonic() + 60
        while not _done(rt, beta):
            assert time.monotonic() < deadline, "beta did not finish"
            tick(rt, lambda job_ids, owner: advance_all(rt, job_ids, owner), batch_ids={beta})
        assert sim.stats()["submits"] == 4
    status = batch_status(rt.sessions, alpha)
    assert status is not None and status.counts == {"pending": 4}
    submitted = set(journal_submits(journal))
    assert {body_sha256(spec.inputs) for spec in beta_manifest.jobs} <= submitted  # the journal names bodies so
    assert not {body_sha256(spec.inputs) for spec in alpha_manifest.jobs} & submitted


def _done(rt: object, batch_id: int) -> bool:
    status = batch_status(rt.sessions, batch_id)  # type: ignore[attr-defined]
    return status is not None and status.done


def test_a_scoped_tick_does_not_poll_another_batchs_jobs_in_flight(tmp_path: Path, backend: Backend) -> None:
    with running_simulator(SimulatorConfig(latency=(0.0, 0.0))) as sim:
        rt = make_runtime(make_settings(tmp_path, backend.db_url, sim.base_url), backend.redis_url)
        alpha = create_batch(rt.sessions, load_manifest(_manifest(tmp_path / "alpha", sim.base_url, "alpha", "jpeg")),
                             now=time.time())
        beta = create_batch(rt.sessions, load_manifest(_manifest(tmp_path / "beta", sim.base_url, "beta", "png")),
                            now=time.time())
        tick(rt, lambda job_ids, owner: advance_all(rt, job_ids, owner), batch_ids={alpha})  # interrupted after submit
        deadline = time.monotonic() + 60
        while not _done(rt, beta):
            assert time.monotonic() < deadline, "beta did not finish"
            tick(rt, lambda job_ids, owner: advance_all(rt, job_ids, owner), batch_ids={beta})
        with rt.sessions() as session:
            polls = session.execute(select(Job.state, Job.polls).where(Job.batch_id == alpha)).all()
    assert polls == [("queued", 0)] * 4


def test_a_scoped_tick_advances_the_jobs_its_batch_waits_for(tmp_path: Path, backend: Backend) -> None:
    """Two runs of one manifest, the first gone after its submits: the second's worker finishes the
    first's jobs in flight (its own wait for them) instead of waiting forever or paying again."""
    journal = tmp_path / "journal.jsonl"
    with running_simulator(SimulatorConfig(latency=(0.0, 0.0), journal=journal, journal_flush_seconds=0.05)) as sim:
        rt = make_runtime(make_settings(tmp_path, backend.db_url, sim.base_url), backend.redis_url)
        manifest = load_manifest(_manifest(tmp_path / "alpha", sim.base_url, "alpha", "jpeg"))
        alpha = create_batch(rt.sessions, manifest, now=time.time())
        beta = create_batch(rt.sessions, manifest, now=time.time())
        tick(rt, lambda job_ids, owner: advance_all(rt, job_ids, owner), batch_ids={alpha})  # its run gone after
        deadline = time.monotonic() + 60
        while not (_done(rt, alpha) and _done(rt, beta)):
            assert time.monotonic() < deadline, (batch_status(rt.sessions, alpha), batch_status(rt.sessions, beta))
            tick(rt, lambda job_ids, owner: advance_all(rt, job_ids, owner), batch_ids={beta})
    assert [batch_status(rt.sessions, b).counts for b in (alpha, beta)] == [{"succeeded": 4}, {"cached": 4}]  # type: ignore[union-attr]
    assert sorted(journal_submits(journal).values()) == [1] * 4
