"""The core flow against the simulator over HTTP, driven in-process by ``drain`` (no Celery)."""

from __future__ import annotations

import hashlib
import itertools
import json
import time
from pathlib import Path
from typing import Any

import requests
from PIL import Image
from requests.adapters import HTTPAdapter
from sqlalchemy import select

from batch.core.schema import OUTPUT_DIMENSIONS
from batch.engine.tick import drain
from batch.simulator import SimulatorConfig, running_simulator
from batch.store.models import Job, JobEvent, Output
from tests.conftest import Backend
from tests.helpers import make_runtime, make_settings, submit_manifest, write_manifest


def test_batch_runs_to_verified_files(tmp_path: Path, backend: Backend) -> None:
    with running_simulator(SimulatorConfig(latency=(0.0, 0.2), workers=8)) as sim:
        rt = make_runtime(make_settings(tmp_path, backend.db_url, sim.base_url), backend.redis_url)
        batch_id = submit_manifest(rt, write_manifest(tmp_path, sim.base_url, items=4, styles=3), time.time())
        drain(rt, batch_id, timeout=60)
        stats = sim.stats()
    with rt.sessions() as session:
        jobs = session.scalars(select(Job).where(Job.batch_id == batch_id)).all()
        outputs = session.scalars(select(Output)).all()
        events = session.scalars(select(JobEvent)).all()
    assert {j.state for j in jobs} == {"succeeded"}
    assert stats["submits"] == 12 and stats["duplicate_submits"] == 0
    assert len(outputs) == 12
    for out in outputs:
        data = Path(out.path).read_bytes()
        assert hashlib.sha256(data).hexdigest() == out.sha256 and len(data) == out.bytes
        with Image.open(out.path) as img:
            assert img.format == "PNG" and img.size == (out.width, out.height)
    ratios = {j.id: j.inputs["aspect_ratio"] for j in jobs}
    job_of = {o.job_id: o for o in outputs}
    for job_id, ratio in ratios.items():
        assert (job_of[job_id].width, job_of[job_id].height) == OUTPUT_DIMENSIONS[ratio]["1K"]
    paths = sorted(Path(o.path).relative_to(tmp_path / "out").as_posix() for o in outputs)
    assert paths[0] == "sku-000/s0.png"
    # every job went pending -> submitting -> queued -> ... -> succeeded, each step logged
    first_moves = {(e.from_state, e.to_state) for e in events}
    assert ("pending", "submitting") in first_moves and ("downloading", "succeeded") in first_moves
    for job in jobs:  # finished straight from a poll: one UPDATE, but both moves are in the log
        path = [e.to_state for e in sorted(events, key=lambda e: e.id) if e.job_id == job.id]
        assert path[:2] == ["submitting", "queued"] and path[-2:] == ["downloading", "succeeded"]


def test_failed_upstream_jobs_end_failed_with_error(tmp_path: Path, sqlite_url: str) -> None:
    with running_simulator(SimulatorConfig(latency=(0.0, 0.0), fail_rate=1.0, seed=1)) as sim:
        rt = make_runtime(make_settings(tmp_path, sqlite_url, sim.base_url))
        batch_id = submit_manifest(rt, write_manifest(tmp_path, sim.base_url, items=2, styles=2), time.time())
        drain(rt, batch_id, timeout=30)
    with rt.sessions() as session:
        jobs = session.scalars(select(Job)).all()
    assert {j.state for j in jobs} == {"failed"}
    assert all(j.error for j in jobs)


class FlakyDownloads(HTTPAdapter):
    """The CDN answers 503 to the first download of each file, then serves it (a real HTTP adapter)."""

    def __init__(self) -> None:
        super().__init__()
        self.refused: set[str] = set()

    def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> requests.Response:
        url = request.url or ""
        if url in self.refused:
            return super().send(request, *args, **kwargs)
        self.refused.add(url)
        response = requests.Response()
        response.status_code, response.url, response.request = 503, url, request
        response._content, response._content_consumed = b"busy", True
        return response


def test_a_failed_download_is_retried_without_asking_upstream_again(tmp_path: Path, sqlite_url: str) -> None:
    with running_simulator(SimulatorConfig(latency=(0.0, 0.0))) as sim:
        rt = make_runtime(make_settings(tmp_path, sqlite_url, sim.base_url))
        flaky = FlakyDownloads()
        rt.http.mount(sim.base_url + "/files/", flaky)
        batch_id = submit_manifest(rt, write_manifest(tmp_path, sim.base_url, items=2, styles=1), time.time())
        drain(rt, batch_id, timeout=30)
        stats = sim.stats()
    with rt.sessions() as session:
        jobs = session.scalars(select(Job)).all()
        trail = [(e.from_state, e.to_state) for e in session.scalars(select(JobEvent).order_by(JobEvent.id))]
    assert {j.state for j in jobs} == {"succeeded"} and all(j.attempts == 1 and j.cost for j in jobs)
    assert len(flaky.refused) == 2
    assert trail.count(("downloading", "succeeded")) == 2 and ("queued", "downloading") in trail
    assert stats["result_calls"] == 2  # the retry downloaded from the recorded URLs


def test_a_queued_job_is_asked_its_position_once_then_its_result(tmp_path: Path, sqlite_url: str) -> None:
    journal = tmp_path / "journal.jsonl"
    with running_simulator(SimulatorConfig(latency=(0.4, 0.4), workers=1, journal=journal,
                                           journal_flush_seconds=0.05)) as sim:
        rt = make_runtime(make_settings(tmp_path, sqlite_url, sim.base_url))
        batch_id = submit_manifest(rt, write_manifest(tmp_path, sim.base_url, items=3, styles=2), time.time())
        drain(rt, batch_id, timeout=60)
    calls: dict[str, list[str]] = {}
    for line in journal.read_text().splitlines():
        entry = json.loads(line)
        parts = entry["path"].split("/")  # /v1/requests/{id}/status|result
        if entry["method"] == "GET" and parts[2] == "requests":
            calls.setdefault(parts[3], []).append(parts[4])
    assert len(calls) == 6 and any("status" in kinds for kinds in calls.values()), calls  # some waited in the queue
    for kinds in calls.values():
        assert kinds[-1] == "result"
        assert ("status", "status") not in itertools.pairwise(kinds), kinds  # a position is asked once per wait


def test_jobs_behind_an_upstream_queue_are_polled_as_the_queue_reaches_them(tmp_path: Path, backend: Backend) -> None:
    # one upstream worker: jobs finish one after the other, 0.1 s apart, in the order submitted
    with running_simulator(SimulatorConfig(latency=(0.1, 0.1), workers=1)) as sim:
        rt = make_runtime(make_settings(tmp_path, backend.db_url, sim.base_url, tick_seconds=0.2), backend.redis_url)
        batch_id = submit_manifest(rt, write_manifest(tmp_path, sim.base_url, items=10, styles=4), time.time())
        drain(rt, batch_id, timeout=90, paced=True)  # scouts come 2 per tick, as in production
        stats = sim.stats()
    with rt.sessions() as session:
        jobs = session.scalars(select(Job)).all()
    assert {j.state for j in jobs} == {"succeeded"}
    # each job is read soon after upstream finished it. Without the queue's pace, a job found
    # waiting at position p is asked again only after 2 s per position (up to 30 s)
    assert max((j.finished_at or 0) - (j.completed_at or 0) for j in jobs) <= 10.0
    # and no storm of reads meanwhile (a loose bound: reads per job vary with timing, 1.3-2.1 seen)
    assert stats["status_calls"] + stats["result_calls"] <= 2.5 * len(jobs), stats
