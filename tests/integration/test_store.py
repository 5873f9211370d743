"""Transitions are conditional updates with an event row; claims hand each due job to one owner."""

from __future__ import annotations

import threading
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import select

from batch.commands.batches import create_batch
from batch.core.states import JobState
from batch.engine.tick import tick
from batch.manifest import JobSpec, Limits, Manifest
from batch.store import db
from batch.store import jobs as store
from batch.store.models import Batch, Job, JobEvent
from tests.conftest import Backend
from tests.helpers import make_runtime, make_settings

S = JobState


def make_batch(url: str, tmp_path: Path, n: int) -> tuple[object, int]:
    jobs = [
        JobSpec(id=f"j{i}", inputs={"prompt": f"p{i}", "image_urls": ["https://x.test/a.png"],
                                     "aspect_ratio": "1:1", "resolution": "1K", "output_format": "png"},
                output_name=f"j{i}.png", line=1, vars={})
        for i in range(n)
    ]
    manifest = Manifest(name="t", path=str(tmp_path / "m.yaml"), jobs=jobs, output_dir=str(tmp_path / "out"),
                        limits=Limits(), budget_usd=None, notify=None, warnings=[])
    sessions = db.session_factory(url)
    return sessions, create_batch(sessions, manifest, now=100.0)


def test_transition_is_conditional_and_logged(tmp_path: Path, backend: Backend) -> None:
    sessions, _ = make_batch(backend.db_url, tmp_path, 1)
    with db.transaction(sessions) as s:  # type: ignore[arg-type]
        job_id = s.scalars(select(Job.id)).one()
        assert store.transition(s, job_id, S.PENDING, S.SUBMITTING, now=101.0, detail="go")
        # a second mover that still believes the job is pending changes nothing
        assert not store.transition(s, job_id, S.PENDING, S.SUBMITTING, now=101.5)
        assert store.transition(s, job_id, S.SUBMITTING, S.QUEUED, now=102.0, request_id="r1")
    with sessions() as s:  # type: ignore[operator]
        job = s.get(Job, job_id)
        events = s.scalars(select(JobEvent).order_by(JobEvent.id)).all()
    assert job.state == "queued" and job.request_id == "r1"
    assert [(e.from_state, e.to_state, e.at) for e in events] == [
        ("pending", "submitting", 101.0), ("submitting", "queued", 102.0)]


def test_transition_needs_the_lease_when_an_owner_is_given(tmp_path: Path, backend: Backend) -> None:
    sessions, _ = make_batch(backend.db_url, tmp_path, 1)
    with db.transaction(sessions) as s:  # type: ignore[arg-type]
        [job_id] = store.claim(s, job_states=[S.PENDING], now=200.0, lease=store.Lease("a", 260.0), limit=5)
        assert not store.transition(s, job_id, S.PENDING, S.SUBMITTING, now=201.0, owner="b")
        assert store.transition(s, job_id, S.PENDING, S.SUBMITTING, now=201.0, owner="a", release=True)


def test_claims_never_overlap_and_expired_leases_are_reclaimed(tmp_path: Path, backend: Backend) -> None:
    sessions, _ = make_batch(backend.db_url, tmp_path, 60)
    got: dict[str, list[int]] = {}

    def claimer(name: str) -> None:
        mine: list[int] = []
        for _ in range(10):
            with db.transaction(sessions) as s:  # type: ignore[arg-type]
                mine += store.claim(s, job_states=[S.PENDING], now=200.0, lease=store.Lease(name, 260.0), limit=4)
        got[name] = mine

    threads = [threading.Thread(target=claimer, args=(f"w{i}",)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    all_claimed = [j for ids in got.values() for j in ids]
    assert len(all_claimed) == len(set(all_claimed)) == 60
    with db.transaction(sessions) as s:  # type: ignore[arg-type]
        assert store.claim(s, job_states=[S.PENDING], now=259.0, lease=store.Lease("late", 300.0), limit=100) == []
        again = store.claim(s, job_states=[S.PENDING], now=261.0, lease=store.Lease("late", 300.0), limit=100)
    assert sorted(again) == sorted(all_claimed)


def test_in_flight_counts_leased_pending_and_upstream_jobs(tmp_path: Path, backend: Backend) -> None:
    sessions, batch_id = make_batch(backend.db_url, tmp_path, 5)
    with db.transaction(sessions) as s:  # type: ignore[arg-type]
        ids = store.claim(s, job_states=[S.PENDING], now=200.0, lease=store.Lease("a", 260.0), limit=3)
        store.transition(s, ids[0], S.PENDING, S.SUBMITTING, now=201.0)
        assert store.in_flight_counts(s, now=202.0) == {batch_id: 3}
        assert store.in_flight_counts(s, now=300.0) == {batch_id: 1}


def test_recorded_costs_add_up_on_the_batch_and_a_rerun_is_paid_again(tmp_path: Path, backend: Backend) -> None:
    sessions, batch_id = make_batch(backend.db_url, tmp_path, 3)
    with db.transaction(sessions) as s:  # type: ignore[arg-type]
        first, second, third = s.scalars(select(Job.id).order_by(Job.id)).all()
        for job_id in (first, second, third):
            store.transition(s, job_id, S.PENDING, S.SUBMITTING, now=101.0)
            store.transition(s, job_id, S.SUBMITTING, S.QUEUED, now=101.0)
        store.transition(s, first, S.QUEUED, S.FAILED, now=102.0, cost=0.15)
        store.transition(s, second, S.QUEUED, S.DOWNLOADING, now=102.0, cost=0.30)
        charged, in_flight = store.spend(s, batch_id)
        assert (charged, in_flight) == (Decimal("0.45"), 1)  # the third is in flight without a cost
        store.transition(s, first, S.FAILED, S.PENDING, now=103.0, cost=None)  # retried
        store.transition(s, first, S.PENDING, S.SUBMITTING, now=103.0)
        store.transition(s, first, S.SUBMITTING, S.QUEUED, now=103.0)
        store.transition(s, first, S.QUEUED, S.DOWNLOADING, now=104.0, cost=0.15)
        charged, in_flight = store.spend(s, batch_id)
    assert (charged, in_flight) == (Decimal("0.6"), 1)


def test_parking_and_unparking_are_transitions_with_events(tmp_path: Path, backend: Backend) -> None:
    sessions, batch_id = make_batch(backend.db_url, tmp_path, 3)
    reason = "budget $1.00 reached"
    with db.transaction(sessions) as s:  # type: ignore[arg-type]
        [mine] = store.claim(s, job_states=[S.PENDING], now=200.0, lease=store.Lease("w", 260.0), limit=1)
        assert store.park_pending(s, batch_id, mine, "w", reason=reason, now=201.0) == 3
    with sessions() as s:  # type: ignore[operator]
        jobs = s.scalars(select(Job)).all()
        events = s.scalars(select(JobEvent).order_by(JobEvent.id)).all()
        batch = s.get(Batch, batch_id)
    assert {(j.state, j.lease_owner) for j in jobs} == {("parked", None)}
    assert sorted(e.job_id for e in events) == sorted(j.id for j in jobs)
    assert {(e.from_state, e.to_state, e.at, e.detail) for e in events} == {("pending", "parked", 201.0, reason)}
    assert batch is not None and batch.options["parked"] == reason
    with db.transaction(sessions) as s:  # type: ignore[arg-type]
        assert store.unpark(s, batch_id, now=300.0) == 3
        assert store.unpark(s, batch_id, now=301.0) == 0  # twice is harmless
    with sessions() as s:  # type: ignore[operator]
        jobs = s.scalars(select(Job)).all()
        last = s.scalars(select(JobEvent).where(JobEvent.id > events[-1].id)).all()
        batch = s.get(Batch, batch_id)
    assert {(j.state, j.next_action_at) for j in jobs} == {("pending", 300.0)}
    assert {(e.from_state, e.to_state, e.detail) for e in last} == {("parked", "pending", "resumed")} and len(last) == 3
    assert batch is not None and "parked" not in batch.options


def test_the_tick_never_claims_a_parked_job(tmp_path: Path, backend: Backend) -> None:
    sessions, batch_id = make_batch(backend.db_url, tmp_path, 2)
    with db.transaction(sessions) as s:  # type: ignore[arg-type]
        first = s.scalars(select(Job.id).order_by(Job.id)).first()
        assert first is not None
        store.park_pending(s, batch_id, first, "nobody", reason="budget", now=100.0)
    rt = make_runtime(make_settings(tmp_path, backend.db_url, "http://127.0.0.1:9"))
    handed: list[int] = []
    tick(rt, lambda job_ids, owner: handed.extend(job_ids), dispatch_later=lambda ids, owner, delay: handed.extend(ids))
    assert handed == []
    with db.transaction(sessions) as s:  # type: ignore[arg-type]
        store.unpark(s, batch_id, now=rt.clock())
    tick(rt, lambda job_ids, owner: handed.extend(job_ids), dispatch_later=lambda ids, owner, delay: handed.extend(ids))
    assert len(handed) == 2


def test_update_job_cannot_change_the_state(tmp_path: Path, backend: Backend) -> None:
    sessions, _ = make_batch(backend.db_url, tmp_path, 1)
    with db.transaction(sessions) as s:  # type: ignore[arg-type]
        job_id = s.scalars(select(Job.id)).one()
        with pytest.raises(TypeError, match="cannot change the state"):
            store.update_job(s, job_id, S.PENDING, None, state=S.FAILED.value)
        assert store.update_job(s, job_id, S.PENDING, None, error="kept")
    with sessions() as s:  # type: ignore[operator]
        job = s.get(Job, job_id)
    assert job is not None and (job.state, job.error) == ("pending", "kept")
