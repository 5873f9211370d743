"""A small batch against the simulator answering ``/result`` in each plausible shape: every job succeeds,
and each job keeps upstream's raw answer; a paid result in a shape nobody reads fails with the answer kept."""

from __future__ import annotations

import hashlib
import time
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from sqlalchemy import select

from batch.commands import operations
from batch.engine.tick import drain
from batch.simulator import SimulatorConfig, api, running_simulator
from batch.simulator.shapes import RESULT_SHAPES
from batch.store.models import Job, Output
from tests.conftest import Backend
from tests.helpers import make_runtime, make_settings, submit_manifest, write_manifest


@pytest.mark.parametrize("shape", RESULT_SHAPES)
def test_batch_succeeds_in_every_result_shape(tmp_path: Path, backend: Backend, shape: str) -> None:
    with running_simulator(SimulatorConfig(latency=(0.0, 0.1), result_shape=shape)) as sim:
        rt = make_runtime(make_settings(tmp_path, backend.db_url, sim.base_url), backend.redis_url)
        batch_id = submit_manifest(rt, write_manifest(tmp_path, sim.base_url, items=2, styles=2), time.time())
        drain(rt, batch_id, timeout=60)
    with rt.sessions() as session:
        jobs = session.scalars(select(Job).where(Job.batch_id == batch_id)).all()
        outputs = session.scalars(select(Output).join(Job).where(Job.batch_id == batch_id)).all()
    assert [(job.state, job.error) for job in jobs] == [("succeeded", None)] * 4
    assert len(outputs) == 4
    for out in outputs:
        assert hashlib.sha256(Path(out.path).read_bytes()).hexdigest() == out.sha256
    for job in jobs:
        raw = job.result_raw or {}
        assert raw["status"] == "succeeded" and raw["request_id"] == job.request_id
        assert job.result_urls and job.result_urls[0] in str(raw)
        if shape != "images":
            assert raw["seed"] == 1234  # the unknown fields are kept as they came, and ignored


def test_paid_result_in_an_unreadable_shape_fails_with_the_answer_kept(
        tmp_path: Path, sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    def pictures(_shape: str, urls: list[str]) -> dict[str, Any]:
        return {"output": {"pictures": [{"href": url} for url in urls]}}

    monkeypatch.setattr(api, "output_fields", pictures)
    with running_simulator(SimulatorConfig(latency=(0.0, 0.0))) as sim:
        rt = make_runtime(make_settings(tmp_path, sqlite_url, sim.base_url))
        batch_id = submit_manifest(rt, write_manifest(tmp_path, sim.base_url, items=1, styles=2), time.time())
        drain(rt, batch_id, timeout=30)
        charged = sim.stats()["cost_charged"]
    with rt.sessions() as session:
        jobs = session.scalars(select(Job).where(Job.batch_id == batch_id)).all()
    assert {job.state for job in jobs} == {"failed"}
    assert {job.error for job in jobs} == {"result succeeded but lists no output nanobatch can read "
                                           "(the answer is kept in the job's result_raw)"}
    assert all((job.result_raw or {}).get("output", {}).get("pictures") for job in jobs)
    assert float(sum(job.cost or 0 for job in jobs)) == pytest.approx(charged)


def test_unknown_status_is_polled_again_then_fails_clearly(tmp_path: Path, sqlite_url: str,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    async def paused(request: web.Request) -> web.Response:
        return web.json_response({"request_id": request.match_info["request_id"], "status": "paused"})

    monkeypatch.setattr(api, "result", paused)
    with running_simulator(SimulatorConfig(latency=(0.0, 0.0))) as sim:
        rt = make_runtime(make_settings(tmp_path, sqlite_url, sim.base_url, max_attempts=1, max_read_errors=3))
        batch_id = submit_manifest(rt, write_manifest(tmp_path, sim.base_url, items=1, styles=1), time.time())
        drain(rt, batch_id, timeout=30)
    with rt.sessions() as session:
        (job,) = session.scalars(select(Job).where(Job.batch_id == batch_id)).all()
    assert (job.state, job.attempts, job.submits) == ("failed", 3, 1)  # read 3 times, past the one attempt
    assert job.error == (f"gave up after 3 attempts: GET /v1/requests/{job.request_id}/result: upstream status "
                         "'paused' is not one nanobatch knows (succeeded, failed, in_queue, in_progress, "
                         "cancelled); taken as not finished yet (upstream may have charged for request "
                         f"{job.request_id}: its cost is not recorded)")  # finished upstream: not cancellable


def test_retry_reads_a_kept_answer_again_without_paying(
        tmp_path: Path, sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """After an upgrade whose reader knows the shape, ``retry`` finds the outputs in the kept answer and
    downloads them: the jobs succeed and upstream charges nothing more."""
    def pictures(_shape: str, urls: list[str]) -> dict[str, Any]:
        return {"output": {"pictures": [{"href": url} for url in urls]}}

    def upgraded_reader(body: dict[str, Any]) -> list[str]:
        return [item["href"] for item in body.get("output", {}).get("pictures", [])]

    monkeypatch.setattr(api, "output_fields", pictures)
    with running_simulator(SimulatorConfig(latency=(0.0, 0.0))) as sim:
        rt = make_runtime(make_settings(tmp_path, sqlite_url, sim.base_url))
        batch_id = submit_manifest(rt, write_manifest(tmp_path, sim.base_url, items=1, styles=2), time.time())
        drain(rt, batch_id, timeout=30)
        charged = sim.stats()["cost_charged"]
        still = operations.retry(rt, batch_id)  # this reader still finds nothing: nothing moves, nothing is paid
        assert (still.total, still.unreadable) == (0, 2)
        monkeypatch.setattr(operations, "output_urls", upgraded_reader)
        report = operations.retry(rt, batch_id)
        assert (report.downloads, report.resubmits, report.reread) == (2, 0, 2)
        drain(rt, batch_id, timeout=30)
        assert sim.stats()["cost_charged"] == charged
    with rt.sessions() as session:
        jobs = session.scalars(select(Job).where(Job.batch_id == batch_id)).all()
    assert {job.state for job in jobs} == {"succeeded"}
