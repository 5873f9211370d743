"""Injected faults (each flag), seed reproducibility, the journal and the stats counters."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
import requests

from batch.simulator import SimulatorConfig, running_simulator
from batch.simulator.journal import body_sha256
from batch.simulator.testing import SimClient


def _config(**changes: Any) -> SimulatorConfig:
    return SimulatorConfig(**{"latency": (0.0, 0.0), **changes})


def test_rate_limit_429_with_retry_after_per_token() -> None:
    with running_simulator(_config(rate_limit=2)) as sim:  # bursts of 2, one more every 0.5 s
        c = SimClient(sim.base_url)
        responses = [c.status("x") for _ in range(4)]
        codes = [r.status_code for r in responses]
        assert codes[:3] == [404, 404, 429]
        limited = responses[2]
        assert limited.headers["Retry-After"].isdigit() and int(limited.headers["Retry-After"]) >= 1
        assert limited.json()["error_code"] == 429001
        assert c.status("x", token="someone-else").status_code == 404  # buckets are per token
        assert c.submit(c.body()).status_code == 429  # all /v1 calls share the budget
        time.sleep(0.6)
        assert c.status("x").status_code == 404
        assert sim.stats()["rate_limited"] == codes.count(429) + 1
        c.close()


def test_max_in_flight_per_token() -> None:
    with running_simulator(_config(workers=1, latency=(0.3, 0.3), max_in_flight=2)) as sim:
        c = SimClient(sim.base_url)
        first, _second = c.submit_ok(c.body()), c.submit_ok(c.body())
        refused = c.submit(c.body())
        assert refused.status_code == 429 and refused.json()["error_code"] == 429001
        assert "Retry-After" in refused.headers
        assert c.submit(c.body(), token="other").status_code == 200
        c.wait_status(first, timeout=5)
        assert c.submit(c.body()).status_code == 200  # a slot freed up
        assert sim.stats()["rate_limited"] == 1
        c.close()


def test_fail_rate_one_fails_every_job() -> None:
    with running_simulator(_config(fail_rate=1.0)) as sim:
        c = SimClient(sim.base_url)
        result = c.run(c.body())
        assert result["status"] == "failed" and "output" not in result
        assert "simulated" in result["error"] and result["cost"] == 0
        assert c.status(result["request_id"]).json()["status"] == "completed"
        stats = sim.stats()
        assert stats["jobs_by_state"]["failed"] == 1 and stats["cost_charged"] == 0
        c.close()


def test_error_rate_one_answers_503_everywhere_on_v1() -> None:
    with running_simulator(_config(error_rate=1.0)) as sim:
        c = SimClient(sim.base_url)
        for response in (c.submit(c.body()), c.status("x"), c.result("x"), c.cancel("x")):
            assert response.status_code == 503
            assert response.json()["error_code"] == 503001
        assert requests.get(c.sample_url(), timeout=10).status_code == 200
        stats = sim.stats()
        assert stats["server_errors"] == 4 and stats["submits"] == 0 and sim.jobs() == []
        c.close()


def test_drop_rate_one_closes_connections_but_submit_is_accepted(tmp_path: Path) -> None:
    journal = tmp_path / "journal.jsonl"
    with running_simulator(_config(drop_rate=1.0, journal=journal)) as sim:
        c = SimClient(sim.base_url)
        with pytest.raises(requests.ConnectionError):
            c.submit(c.body())
        with pytest.raises(requests.ConnectionError):
            c.status("x")
        stats = sim.stats()
        assert stats["drops"] == 2 and stats["submits"] == 1
        [job] = sim.jobs()  # accepted but unanswered: the job exists and runs
        c.close()
    lines = [json.loads(line) for line in journal.read_text().splitlines()]
    assert [line["status"] for line in lines] == ["drop", "drop"]
    assert lines[0]["request_id"] == job["request_id"]


def test_slow_rate_delays_answers_past_client_timeout() -> None:
    with running_simulator(_config(slow_rate=1.0, slow_seconds=0.4)) as sim:
        c = SimClient(sim.base_url)
        started = time.monotonic()
        assert c.status("x").status_code == 404
        assert time.monotonic() - started >= 0.4
        c.timeout = 0.1
        with pytest.raises(requests.Timeout):
            c.submit(c.body())
        time.sleep(0.4)
        assert sim.stats()["slow_answers"] == 2 and len(sim.jobs()) == 1  # accepted, answered late
        c.close()


def _outcomes(seed: int) -> list[Any]:
    with running_simulator(_config(seed=seed, fail_rate=0.5, error_rate=0.3, latency=(0, 0.01))) as sim:
        c = SimClient(sim.base_url)
        codes = [c.submit(c.body(prompt=str(i))).status_code for i in range(30)]
        deadline = time.monotonic() + 20
        while sim.stats()["jobs_by_state"]["in_queue"] + sim.stats()["jobs_by_state"]["in_progress"]:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        states = [j["state"] for j in sim.jobs()]  # in submission order
        c.close()
    return [codes, states]


def test_seed_makes_faults_reproducible() -> None:
    first, again, other = _outcomes(7), _outcomes(7), _outcomes(8)
    assert first == again
    assert first != other
    assert 200 in first[0] and 503 in first[0]
    assert set(first[1]) == {"succeeded", "failed"}


def test_journal_lines(tmp_path: Path) -> None:
    journal = tmp_path / "sub" / "journal.jsonl"
    with running_simulator(_config(journal=journal)) as sim:
        c = SimClient(sim.base_url)
        body = c.body()
        rid = c.submit_ok(body)
        c.wait_status(rid)
        c.result(rid)
        c.cancel(rid)
        c.submit({"prompt": "x"})
        requests.get(f"{sim.base_url}/v1/requests/x/status", timeout=10)
        c.close()
    lines = [json.loads(line) for line in journal.read_text().splitlines()]
    assert [(x["method"], x["status"]) for x in lines[:1]] == [("POST", 200)]
    assert lines[0]["path"] == "/v1/models/google/nano-banana/pro/edit"
    assert lines[0]["request_id"] == rid and lines[0]["body_sha256"] == body_sha256(body)
    assert all(isinstance(x["t"], float) and x["t"] > 1e9 for x in lines)
    assert [x["status"] for x in lines[-4:]] == [200, 202, 422, 401]
    assert lines[-2]["body_sha256"] == body_sha256({"prompt": "x"}) and lines[-2]["request_id"] is None
    assert "body_sha256" not in lines[-3]
    assert {x["path"] for x in lines[1:-3]} <= {f"/v1/requests/{rid}/status", f"/v1/requests/{rid}/result"}


def test_stats_counts_duplicates_calls_and_cost() -> None:
    with running_simulator(_config()) as sim:
        c = SimClient(sim.base_url)
        body = c.body(resolution="4K", output_format="jpeg", aspect_ratio="1:1")
        ids = [c.submit_ok(body), c.submit_ok(body), c.submit_ok(c.body())]
        for rid in ids:
            c.wait_status(rid, timeout=20)
        before = sim.stats()
        c.result(ids[0])
        c.cancel(ids[0])
        stats = sim.stats()
        assert stats["submits"] == 3 and stats["duplicate_submits"] == 1
        assert stats["status_calls"] == before["status_calls"] >= 3
        assert stats["result_calls"] == 1 and stats["cancel_calls"] == 1
        assert stats["jobs_by_state"] == {"in_queue": 0, "in_progress": 0, "succeeded": 3, "failed": 0,
                                          "cancelled": 0}
        assert stats["cost_charged"] == pytest.approx(0.30 + 0.30 + 0.15)
        assert stats["rate_limited"] == stats["server_errors"] == stats["drops"] == 0
        c.close()


def test_custom_prices() -> None:
    with running_simulator(_config(price_1k2k=0.5, price_4k=2.0)) as sim:
        c = SimClient(sim.base_url)
        assert c.run(c.body(resolution="2K"))["cost"] == pytest.approx(0.5)
        assert c.run(c.body(resolution="4K", output_format="jpeg"))["cost"] == pytest.approx(2.0)
        assert sim.stats()["cost_charged"] == pytest.approx(2.5)
        c.close()


def test_slow_download_rate_trickles_a_file_over_slow_seconds() -> None:
    with running_simulator(_config(slow_download_rate=1.0, slow_seconds=0.5, latency=(0, 0))) as sim:
        c = SimClient(sim.base_url)
        [url] = c.run(c.body())["output"]["images"]
        started = time.monotonic()
        slow = c.download(url)
        assert time.monotonic() - started >= 0.45 and slow.status_code == 200
        assert slow.content[:8] == b"\x89PNG\r\n\x1a\n" and len(slow.content) == int(slow.headers["Content-Length"])
        assert sim.stats()["slow_downloads"] == 1 and sim.stats()["slow_answers"] == 0
        c.close()
