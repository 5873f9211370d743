"""Batch operations over the simulator: skip what is done, retry, cancel, budget, resume."""

from __future__ import annotations

import time
from pathlib import Path
from unittest.mock import patch

from sqlalchemy import select

from batch import errors
from batch.commands.batches import SubmitOptions, create_batch
from batch.commands.operations import cancel, resume, retry
from batch.commands.plan import plan
from batch.core.cost import PriceTable
from batch.engine.steps import advance_all
from batch.engine.tick import drain, tick
from batch.manifest import load_manifest
from batch.simulator import SimulatorConfig, running_simulator
from batch.store import jobs as store
from batch.store.db import transaction
from batch.store.models import Job, JobEvent, Output
from batch.store.queries import batch_status
from batch.upstream.limiter import Limiter, NullLimiter, Rates
from tests.conftest import Backend
from tests.helpers import make_runtime, make_settings, write_manifest


def counts(rt: object, batch_id: int) -> dict[str, int]:
    status = batch_status(rt.sessions, batch_id)  # type: ignore[attr-defined]
    assert status is not None
    return status.counts


def test_same_manifest_again_is_all_cached_with_zero_submits(tmp_path: Path, backend: Backend) -> None:
    with running_simulator(SimulatorConfig(latency=(0.0, 0.1), workers=8)) as sim:
        rt = make_runtime(make_settings(tmp_path, backend.db_url, sim.base_url), backend.redis_url)
        manifest = load_manifest(write_manifest(tmp_path, sim.base_url, items=3, styles=2))
        first = create_batch(rt.sessions, manifest, now=time.time())
        drain(rt, first, timeout=60)
        submits_after_first = sim.stats()["submits"]
        dry = plan(manifest, PriceTable(), rt.sessions)
        assert (dry.cached, dry.to_run, dry.estimated_cost) == (6, 0, 0.0)
        second = create_batch(rt.sessions, manifest, now=time.time())
        drain(rt, second, timeout=60)
        assert sim.stats()["submits"] == submits_after_first == 6
        forced = create_batch(rt.sessions, manifest, now=time.time(), options=SubmitOptions(force=True))
        drain(rt, forced, timeout=60)
        assert sim.stats()["submits"] == 12
    assert counts(rt, second) == {"cached": 6}
    assert counts(rt, forced) == {"succeeded": 6}
    with rt.sessions() as s:
        outputs = s.scalars(select(Output).join(Job).where(Job.batch_id == second)).all()
    assert len(outputs) == 6 and all(Path(o.path).exists() for o in outputs)


def test_cached_file_is_copied_under_the_new_name_and_missing_files_are_not_trusted(
        tmp_path: Path, sqlite_url: str) -> None:
    with running_simulator(SimulatorConfig(latency=(0.0, 0.0))) as sim:
        rt = make_runtime(make_settings(tmp_path, sqlite_url, sim.base_url))
        first = load_manifest(write_manifest(tmp_path, sim.base_url, items=2, styles=1))
        b1 = create_batch(rt.sessions, first, now=time.time())
        drain(rt, b1, timeout=30)
        (tmp_path / "v2").mkdir()
        renamed = load_manifest(write_manifest(tmp_path / "v2", sim.base_url, items=2, styles=1))
        with rt.sessions() as s:
            victim = s.scalars(select(Output).order_by(Output.id)).first()
        assert victim is not None
        Path(victim.path).unlink()  # one earlier file is gone: that job must be paid for again
        b2 = create_batch(rt.sessions, renamed, now=time.time())
        drain(rt, b2, timeout=30)
        assert sim.stats()["submits"] == 3
    assert counts(rt, b2) == {"cached": 1, "succeeded": 1}
    assert sorted(p.name for p in (tmp_path / "v2" / "out").rglob("*.png")) == ["s0.png", "s0.png"]


def test_failed_jobs_retried_to_success_keep_their_history(tmp_path: Path, backend: Backend) -> None:
    with running_simulator(SimulatorConfig(latency=(0.0, 0.0))) as images:  # input images outlive both APIs
        manifest = load_manifest(write_manifest(tmp_path, images.base_url, items=2, styles=2))
        with running_simulator(SimulatorConfig(latency=(0.0, 0.0), fail_rate=1.0, seed=2)) as bad:
            rt = make_runtime(make_settings(tmp_path, backend.db_url, bad.base_url), backend.redis_url)
            batch_id = create_batch(rt.sessions, manifest, now=time.time())
            drain(rt, batch_id, timeout=30)
        assert counts(rt, batch_id) == {"failed": 4}
        with running_simulator(SimulatorConfig(latency=(0.0, 0.0))) as good:
            rt = make_runtime(make_settings(tmp_path, backend.db_url, good.base_url), backend.redis_url)
            assert retry(rt, batch_id, error_contains="no such text").total == 0
            assert retry(rt, batch_id, error_contains="fail-rate").total == 4
            assert retry(rt, batch_id).total == 0  # nothing failed any more: safe to run twice
            drain(rt, batch_id, timeout=30)
    assert counts(rt, batch_id) == {"succeeded": 4}
    with rt.sessions() as s:
        job = s.scalars(select(Job)).first()
        assert job is not None
        events = s.scalars(select(JobEvent).where(JobEvent.job_id == job.id).order_by(JobEvent.id)).all()
    trail = [(e.from_state, e.to_state) for e in events]
    assert ("failed", "pending") in trail and trail[-1] == ("downloading", "succeeded")
    assert job.submits == 2


def test_cancel_while_queued_upstream(tmp_path: Path, backend: Backend) -> None:
    with running_simulator(SimulatorConfig(latency=(1.5, 1.5), workers=1)) as sim:
        rt = make_runtime(make_settings(tmp_path, backend.db_url, sim.base_url), backend.redis_url)
        batch_id = create_batch(rt.sessions, load_manifest(write_manifest(tmp_path, sim.base_url, items=3, styles=2)),
                                now=time.time())
        tick(rt, lambda job_ids, owner: advance_all(rt, job_ids, owner))  # all six submitted; one runs upstream
        assert counts(rt, batch_id) == {"queued": 6}
        time.sleep(0.3)
        report = cancel(rt, batch_id)
        assert (report.cancelled_upstream, report.still_running) == (5, 1)
        assert cancel(rt, batch_id).cancelled_upstream == 0  # twice is harmless
        drain(rt, batch_id, timeout=30)
        stats = sim.stats()
    assert counts(rt, batch_id) == {"cancelled": 5, "succeeded": 1}
    assert stats["jobs_by_state"]["cancelled"] == 5 and stats["cost_charged"] == 0.15


def test_budget_stops_part_way_then_resume_with_more(tmp_path: Path, backend: Backend) -> None:
    with running_simulator(SimulatorConfig(latency=(0.0, 0.0))) as sim:
        rt = make_runtime(make_settings(tmp_path, backend.db_url, sim.base_url, max_in_flight=1),
                          backend.redis_url)
        manifest = load_manifest(write_manifest(tmp_path, sim.base_url, items=3, styles=2))
        batch_id = create_batch(rt.sessions, manifest, now=time.time(), options=SubmitOptions(budget_usd=0.45))
        drain(rt, batch_id, timeout=30)
        status = batch_status(rt.sessions, batch_id)
        assert status is not None and status.settled and not status.done
        assert status.counts == {"succeeded": 3, "parked": 3} and "budget" in (status.parked or "")
        assert sim.stats()["submits"] == 3
        assert resume(rt, batch_id, budget_usd=1.00) == 3
        assert resume(rt, batch_id) == 0
        drain(rt, batch_id, timeout=30)
        assert sim.stats()["cost_charged"] <= 1.00
    assert counts(rt, batch_id) == {"succeeded": 6}


class _Deferring:
    """A limiter that grants every call but cancels, which it asks to wait for."""

    def __init__(self, inner: Limiter) -> None:
        self.inner = inner

    def acquire(self, kind: str, rates: Rates) -> float:
        return 5.0 if kind == "cancel" else self.inner.acquire(kind, rates)

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)


def test_cancel_counts_only_the_cancels_that_happened(tmp_path: Path, backend: Backend) -> None:
    with running_simulator(SimulatorConfig(latency=(1.5, 1.5), workers=1)) as sim:
        rt = make_runtime(make_settings(tmp_path, backend.db_url, sim.base_url), backend.redis_url)
        batch_id = create_batch(rt.sessions, load_manifest(write_manifest(tmp_path, sim.base_url, items=2, styles=2)),
                                now=time.time())
        tick(rt, lambda job_ids, owner: advance_all(rt, job_ids, owner))  # four submitted; one runs upstream
        time.sleep(0.3)
        limiter = rt.limiter
        rt.limiter = _Deferring(limiter)  # type: ignore[assignment]
        deferred = cancel(rt, batch_id)
        assert (deferred.cancelled_upstream, deferred.not_sent, deferred.still_running) == (0, 4, 0)
        assert any("not sent" in line and line.endswith(": 4") for line in deferred.lines())
        rt.limiter = NullLimiter()  # the 429 below would pause the shared limiter for everyone
        refused = errors.RateLimited("429 from upstream", retry_after=0.1)
        with patch.object(rt.client, "cancel", side_effect=refused):
            limited = cancel(rt, batch_id)
        assert (limited.cancelled_upstream, limited.not_sent) == (0, 4)
        rt.limiter = limiter
        done = cancel(rt, batch_id)
        assert (done.cancelled_upstream, done.not_sent, done.still_running) == (3, 0, 1)
        assert sim.stats()["jobs_by_state"]["cancelled"] == 3
    assert counts(rt, batch_id) == {"cancelled": 3, "queued": 1}


def test_cancel_also_cancels_parked_jobs(tmp_path: Path, backend: Backend) -> None:
    rt = make_runtime(make_settings(tmp_path, backend.db_url, "http://127.0.0.1:9"), backend.redis_url)
    manifest = load_manifest(write_manifest(tmp_path, "http://127.0.0.1:9", items=2, styles=2))
    batch_id = create_batch(rt.sessions, manifest, now=time.time())
    with transaction(rt.sessions) as session:
        first = session.scalars(select(Job.id).where(Job.batch_id == batch_id).order_by(Job.id)).first()
        assert first is not None
        assert store.park_pending(session, batch_id, first, "nobody", reason="budget $0.10 reached",
                                  now=rt.clock()) == 4
    status = batch_status(rt.sessions, batch_id)
    assert status is not None and status.settled and status.parked == "budget $0.10 reached"
    assert cancel(rt, batch_id).not_submitted == 4
    status = batch_status(rt.sessions, batch_id)
    assert status is not None and status.counts == {"cancelled": 4} and status.parked is None
