"""Transitions are conditional updates with an event row; claims hand each due job to one owner."""

from __future__ import annotations

import threading
from pathlib import Path

from sqlalchemy import select

from batch.core.states import JobState
from batch.manifest import JobSpec, Limits, Manifest
from batch.store import db
from batch.store import jobs as store
from batch.store.batches import create_batch
from batch.store.models import Job, JobEvent
from tests.conftest import Backend

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
        assert (round(charged, 6), in_flight) == (0.45, 1)  # the third is in flight without a cost
        store.transition(s, first, S.FAILED, S.PENDING, now=103.0, cost=None)  # retried
        store.transition(s, first, S.PENDING, S.SUBMITTING, now=103.0)
        store.transition(s, first, S.SUBMITTING, S.QUEUED, now=103.0)
        store.transition(s, first, S.QUEUED, S.DOWNLOADING, now=104.0, cost=0.15)
        charged, in_flight = store.spend(s, batch_id)
    assert (round(charged, 6), in_flight) == (0.6, 1)
