"""The simulator's queue: workers, FIFO queue positions, run time, cancel rules, result expiry."""

from __future__ import annotations

import time

import pytest

from batch.simulator import SimulatorConfig, running_simulator
from batch.simulator.testing import SimClient


def test_queue_positions_are_true_fifo_with_one_worker() -> None:
    with running_simulator(SimulatorConfig(workers=1, latency=(0.4, 0.4))) as sim:
        c = SimClient(sim.base_url)
        ids = [c.submit_ok(c.body(prompt=f"job {i}")) for i in range(4)]
        first = c.status(ids[0]).json()
        assert first["status"] == "in_progress" and "queue_position" not in first
        assert [c.status(rid).json()["queue_position"] for rid in ids[1:]] == [1, 2, 3]
        assert c.cancel(ids[2]).json()["outcome"] == "cancelled"  # leaves the line
        assert [c.status(rid).json().get("queue_position") for rid in ids[1:]] == [1, None, 2]
        c.wait_status(ids[0], ("completed",))
        assert c.status(ids[1]).json()["status"] == "in_progress"
        assert c.status(ids[3]).json()["queue_position"] == 1
        c.wait_status(ids[3], ("completed",), timeout=5)
        jobs = {j["request_id"]: j for j in sim.jobs()}
        starts = [jobs[ids[i]]["started_at"] for i in (0, 1, 3)]
        assert starts == sorted(starts)  # FIFO
        c.close()


def test_workers_bound_concurrency() -> None:
    with running_simulator(SimulatorConfig(workers=2, latency=(0.3, 0.3))) as sim:
        c = SimClient(sim.base_url)
        ids = [c.submit_ok(c.body()) for _ in range(5)]
        states = [c.status(rid).json()["status"] for rid in ids]
        assert states == ["in_progress"] * 2 + ["in_queue"] * 3
        assert sim.stats()["jobs_by_state"]["in_progress"] == 2
        for rid in ids:
            c.wait_status(rid, timeout=5)
        c.close()


def test_run_time_drawn_from_latency_range() -> None:
    with running_simulator(SimulatorConfig(latency=(0.2, 0.4))) as sim:
        c = SimClient(sim.base_url)
        ids = [c.submit_ok(c.body()) for _ in range(4)]
        for rid in ids:
            c.wait_status(rid, timeout=5)
        for job in sim.jobs():
            ran = job["finished_at"] - job["started_at"]
            assert 0.19 <= ran <= 0.9, ran
        c.close()


def test_cancel_rules_queued_running_done() -> None:
    with running_simulator(SimulatorConfig(workers=1, latency=(0.3, 0.3))) as sim:
        c = SimClient(sim.base_url)
        running, queued = c.submit_ok(c.body()), c.submit_ok(c.body())
        answer = c.cancel(queued)
        assert answer.status_code == 202
        assert answer.json() == {"request_id": queued, "status": "cancelled", "outcome": "cancelled"}
        assert c.status(queued).json()["status"] == "cancelled"
        assert c.result(queued).json()["status"] == "cancelled"
        assert c.cancel(queued).json()["outcome"] == "cancelled"  # idempotent
        busy = c.cancel(running).json()
        assert busy == {"request_id": running, "status": "in_progress", "outcome": "not_cancellable"}
        c.wait_status(running)  # runs on ...
        done = c.result(running, include_cost=True).json()
        assert done["status"] == "succeeded" and done["cost"] == pytest.approx(0.15)  # ... and is billed
        assert c.cancel(running).json()["outcome"] == "not_cancellable"
        stats = sim.stats()
        assert stats["jobs_by_state"]["cancelled"] == 1
        assert stats["cost_charged"] == pytest.approx(0.15)
        c.close()


def test_result_file_expires_after_ttl() -> None:
    with running_simulator(SimulatorConfig(latency=(0, 0), result_ttl=0.5)) as sim:
        c = SimClient(sim.base_url)
        result = c.run(c.body())
        [url] = result["output"]["images"]
        assert c.download(url).status_code == 200
        deadline = time.monotonic() + 5
        while c.download(url).status_code == 200:
            assert time.monotonic() < deadline, "file never expired"
            time.sleep(0.05)
        assert c.download(url).status_code == 404
        assert c.result(result["request_id"]).json()["status"] == "succeeded"
        c.close()


def test_files_need_no_auth_and_exact_name() -> None:
    with running_simulator(SimulatorConfig(latency=(0, 0))) as sim:
        c = SimClient(sim.base_url)
        result = c.run(c.body(output_format="jpeg"))
        [url] = result["output"]["images"]
        assert url.endswith("/0.jpg")
        assert c.download(url.replace("/0.jpg", "/0.png")).status_code == 404
        assert c.download(f"{sim.base_url}/files/unknown/0.jpg").status_code == 404
        c.close()
