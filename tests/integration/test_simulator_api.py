"""The simulator's four /v1 calls, auth, validation and error bodies, over real HTTP."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from batch.simulator import SimulatorConfig, SimulatorHandle, running_simulator
from batch.simulator.testing import SUBMIT_PATH, SimClient

UUIDISH = 36


@pytest.fixture(scope="module")
def sim() -> Iterator[SimulatorHandle]:
    with running_simulator(SimulatorConfig(latency=(0.0, 0.0))) as handle:
        yield handle


def _error(response: requests.Response, http_status: int, code: int) -> dict[str, Any]:
    assert response.status_code == http_status, response.text
    body: dict[str, Any] = response.json()
    assert body["error_code"] == code
    assert isinstance(body["error_message"], str) and body["error_message"]
    return body


def test_submit_answers_200_with_id_and_urls_on_own_base(client: SimClient, sim: SimulatorHandle) -> None:
    response = client.submit(client.body())
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"request_id", "status_url", "result_url", "cancel_url"}
    rid = body["request_id"]
    assert len(rid) == UUIDISH
    root = f"{sim.base_url}/v1/requests/{rid}"
    assert body["status_url"] == f"{root}/status"
    assert body["result_url"] == f"{root}/result"
    assert body["cancel_url"] == f"{root}/cancel"


def test_status_fields_and_completed(client: SimClient, sim: SimulatorHandle) -> None:
    rid = client.submit_ok(client.body())
    body = client.wait_status(rid, ("completed",))
    assert set(body) == {"request_id", "status", "status_url", "result_url"}
    assert body["request_id"] == rid
    assert body["status_url"] == f"{sim.base_url}/v1/requests/{rid}/status"
    assert body["result_url"] == f"{sim.base_url}/v1/requests/{rid}/result"


def test_result_succeeded_has_output_times_and_optional_cost(client: SimClient) -> None:
    rid = client.submit_ok(client.body(resolution="1K"))
    client.wait_status(rid)
    plain = client.result(rid)
    assert plain.status_code == 200
    body = plain.json()
    assert set(body) == {"request_id", "status", "output", "created_at", "finished_at"}
    assert body["status"] == "succeeded"
    assert body["created_at"] <= body["finished_at"]
    [url] = body["output"]["images"]
    assert url.endswith(f"/files/{rid}/0.png")
    with_cost = client.result(rid, include_cost=True).json()
    assert with_cost["cost"] == pytest.approx(0.15)
    assert client.download(url).status_code == 200


def test_result_while_queued_or_running_has_no_output(client: SimClient) -> None:
    with running_simulator(SimulatorConfig(latency=(0.5, 0.5), workers=1)) as slow:
        c = SimClient(slow.base_url)
        first, second = c.submit_ok(c.body()), c.submit_ok(c.body())
        running, queued = c.result(first, include_cost=True).json(), c.result(second).json()
        assert running["status"] == "in_progress" and "output" not in running
        assert running["finished_at"] is None and running["cost"] == 0
        assert queued["status"] == "in_queue" and "output" not in queued and "error" not in queued
        c.close()


def test_cancel_answers_202_with_outcome(client: SimClient) -> None:
    rid = client.submit_ok(client.body())
    client.wait_status(rid)
    response = client.cancel(rid)
    assert response.status_code == 202
    assert response.json() == {"request_id": rid, "status": "completed", "outcome": "not_cancellable"}


@pytest.mark.parametrize("header", [None, "", "Bearer", "Bearer ", "Basic abc", "Token abc", "Bearer a b"])
def test_missing_or_malformed_authorization_is_401(sim: SimulatorHandle, header: str | None) -> None:
    headers = {} if header is None else {"Authorization": header}
    response = requests.get(f"{sim.base_url}/v1/requests/x/status", headers=headers, timeout=10)
    _error(response, 401, 400004)


def test_any_token_accepted_without_token_list(client: SimClient) -> None:
    assert client.submit(client.body(), token="whatever-123").status_code == 200


def test_token_not_in_accepted_list_is_401() -> None:
    with running_simulator(SimulatorConfig(latency=(0, 0), tokens=("good", "also-good"))) as sim:
        c = SimClient(sim.base_url, token="bad")
        _error(c.submit(c.body()), 401, 400004)
        _error(c.status("x"), 401, 400004)
        assert c.submit(c.body(), token="good").status_code == 200
        assert c.submit(c.body(), token="also-good").status_code == 200
        c.close()


@pytest.mark.parametrize("path", ["/v1/models/google/nano-banana/pro", "/v1/models/other/model",
                                  "/v1/models/google/nano-banana/pro/edit/x"])
def test_unknown_model_path_is_400001(client: SimClient, path: str) -> None:
    _error(client.submit(client.body(), path=path), 400, 400001)


def test_unknown_request_id_is_404001(client: SimClient) -> None:
    for response in (client.status("nope"), client.result("nope"), client.cancel("nope")):
        _error(response, 404, 404001)


def test_request_of_another_token_is_403001(client: SimClient) -> None:
    rid = client.submit_ok(client.body(), token="owner")
    for response in (client.status(rid, token="intruder"), client.result(rid, token="intruder"),
                     client.cancel(rid, token="intruder")):
        _error(response, 403, 403001)
    assert client.status(rid, token="owner").status_code == 200


def _fields(response: requests.Response) -> list[str]:
    body = _error(response, 422, 422001)
    assert all(set(d) == {"field", "message"} and d["message"] for d in body["detail"])
    return [d["field"] for d in body["detail"]]


@pytest.mark.parametrize(("change", "fields"), [
    ({"colour": "red"}, ["colour"]),
    ({"aspect_ratio": "7:5"}, ["aspect_ratio"]),
    ({"resolution": "8K"}, ["resolution"]),
    ({"output_format": "gif"}, ["output_format"]),
    ({"prompt": None}, ["prompt"]),
    ({"prompt": ""}, ["prompt"]),
    ({"image_urls": []}, ["image_urls"]),
    ({"image_urls": ["http://x/a.png"] * 21}, ["image_urls"]),
    ({"image_urls": ["http://x/a.png", "not a url", "ftp://x/y"]}, ["image_urls.1", "image_urls.2"]),
    ({"image_urls": None}, ["image_urls"]),
    ({"resolution": "3K", "extra": 1}, ["extra", "resolution"]),
])
def test_validation_422001_names_each_field(client: SimClient, change: dict[str, Any], fields: list[str]) -> None:
    body = {k: v for k, v in {**client.body(), **change}.items() if v is not None}
    assert sorted(_fields(client.submit(body))) == sorted(fields)


def test_twenty_image_urls_accepted(client: SimClient) -> None:
    body = client.body()
    body["image_urls"] = body["image_urls"] * 20
    assert client.submit(body).status_code == 200


@pytest.mark.parametrize("raw", [b"{not json", b"", b"[1, 2]", b'"text"'])
def test_invalid_json_body_is_422(sim: SimulatorHandle, raw: bytes) -> None:
    response = requests.post(sim.base_url + SUBMIT_PATH, data=raw, timeout=10,
                             headers={"Authorization": "Bearer t", "Content-Type": "application/json"})
    assert _fields(response) == ["body"]


def test_samples_catalog(sim: SimulatorHandle) -> None:
    names = requests.get(f"{sim.base_url}/samples/", timeout=10).json()
    assert names == sorted(["shoe.png", "mug.png", "lamp.png", "chair.png", "watch.png", "bag.png"])
    text = requests.get(f"{sim.base_url}/samples/not-an-image.txt", timeout=10)
    assert text.status_code == 200 and text.headers["Content-Type"].startswith("text/plain")
    assert requests.get(f"{sim.base_url}/samples/sofa.png", timeout=10).status_code == 404


def test_stats_and_jobs_need_no_auth(client: SimClient, sim: SimulatorHandle) -> None:
    rid = client.submit_ok(client.body(prompt="listed"))
    client.wait_status(rid)
    jobs = {j["request_id"]: j for j in sim.jobs()}
    job = jobs[rid]
    assert job["state"] == "succeeded"
    assert job["submitted_at"] <= job["started_at"] <= job["finished_at"]
    canonical = json.dumps(client.body(prompt="listed"), sort_keys=True, separators=(",", ":"))
    assert job["body_sha256"] == hashlib.sha256(canonical.encode()).hexdigest()
    stats = sim.stats()
    for key in ("submits", "duplicate_submits", "status_calls", "result_calls", "cancel_calls",
                "rate_limited", "server_errors", "drops", "jobs_by_state", "cost_charged"):
        assert key in stats
    assert set(stats["jobs_by_state"]) == {"in_queue", "in_progress", "succeeded", "failed", "cancelled"}
