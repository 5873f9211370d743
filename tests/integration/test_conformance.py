"""Walks ``shared/runcomfy-api.md`` in order: one test per documented row or rule.

Not simulated (so not tested): 400002 insufficient balance / HTTP 402, and HTTP 200 answers that
carry an ``error_code`` in the body.
"""

from __future__ import annotations

import io
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from PIL import Image

from batch.core.schema import ASPECT_RATIOS, OUTPUT_DIMENSIONS, OUTPUT_FORMATS, RESOLUTIONS
from batch.simulator import SimulatorConfig, SimulatorHandle, running_simulator
from batch.simulator.testing import SUBMIT_PATH, SimClient


@pytest.fixture(scope="module")
def sim() -> Iterator[SimulatorHandle]:
    with running_simulator(SimulatorConfig(latency=(0.0, 0.0), workers=4)) as handle:
        yield handle


@pytest.fixture
def c(client: SimClient) -> SimClient:
    """The shared simulator client, under a short name for this long walk through the contract."""
    return client


def _size(c: SimClient, result: dict[str, Any]) -> tuple[int, int]:
    picture = Image.open(io.BytesIO(c.download(result["output"]["images"][0]).content))
    return picture.size


# -- Endpoints -----------------------------------------------------------------------------------

def test_every_call_carries_bearer_token(sim: SimulatorHandle) -> None:
    for method, path in (("POST", SUBMIT_PATH), ("GET", "/v1/requests/x/status"),
                         ("GET", "/v1/requests/x/result"), ("POST", "/v1/requests/x/cancel")):
        response = requests.request(method, sim.base_url + path, timeout=10)
        assert response.status_code == 401, path


def test_submit_row(c: SimClient, sim: SimulatorHandle) -> None:
    response = c.submit(c.body())
    body = response.json()
    assert response.status_code == 200
    assert set(body) == {"request_id", "status_url", "result_url", "cancel_url"}
    for name in ("status", "result", "cancel"):
        assert body[f"{name}_url"] == f"{sim.base_url}/v1/requests/{body['request_id']}/{name}"


def test_status_row() -> None:
    with running_simulator(SimulatorConfig(workers=1, latency=(0.3, 0.3))) as sim:
        c = SimClient(sim.base_url)
        running, queued = c.submit_ok(c.body()), c.submit_ok(c.body())
        seen = {"in_progress": c.status(running).json(), "in_queue": c.status(queued).json()}
        c.cancel(queued)
        seen["cancelled"] = c.status(queued).json()
        seen["completed"] = c.wait_status(running, ("completed",))
        for word, body in seen.items():
            assert body["status"] == word
            expected = {"request_id", "status", "status_url", "result_url"}
            assert set(body) == (expected | {"queue_position"} if word == "in_queue" else expected)
        assert seen["in_queue"]["queue_position"] == 1
        c.close()


def test_result_row(c: SimClient) -> None:
    rid = c.submit_ok(c.body())
    c.wait_status(rid)
    body = c.result(rid).json()
    assert set(body) == {"request_id", "status", "output", "created_at", "finished_at"}
    assert body["status"] == "succeeded"
    cost = c.result(rid, include_cost=True).json()["cost"]
    assert isinstance(cost, float | int) and cost > 0


def test_result_status_words() -> None:
    with running_simulator(SimulatorConfig(workers=1, latency=(0.3, 0.3))) as sim:
        c = SimClient(sim.base_url)
        running, queued, cancelled = (c.submit_ok(c.body()) for _ in range(3))
        c.cancel(cancelled)
        words = [c.result(rid).json()["status"] for rid in (running, queued, cancelled)]
        assert words == ["in_progress", "in_queue", "cancelled"]
        assert all("output" not in c.result(rid).json() for rid in (running, queued, cancelled))
        c.close()


def test_cancel_row() -> None:
    with running_simulator(SimulatorConfig(workers=1, latency=(0.3, 0.3))) as sim:
        c = SimClient(sim.base_url)
        running, queued = c.submit_ok(c.body()), c.submit_ok(c.body())
        for rid, outcome in ((queued, "cancelled"), (running, "not_cancellable")):
            response = c.cancel(rid)
            assert response.status_code == 202
            assert set(response.json()) == {"request_id", "status", "outcome"}
            assert response.json()["outcome"] == outcome
        c.wait_status(running)
        assert c.result(running, include_cost=True).json()["cost"] > 0  # runs on and is billed
        c.close()


def test_failed_upstream_shows_completed_on_status() -> None:
    with running_simulator(SimulatorConfig(latency=(0, 0), fail_rate=1.0)) as sim:
        c = SimClient(sim.base_url)
        result = c.run(c.body())
        assert c.status(result["request_id"]).json()["status"] == "completed"
        assert result["status"] == "failed" and isinstance(result["error"], str) and result["error"]
        c.close()


def test_output_object_has_images_list(c: SimClient) -> None:
    output = c.run(c.body())["output"]
    assert list(output) == ["images"] and len(output["images"]) == 1


# -- Input schema --------------------------------------------------------------------------------

def _codes(c: SimClient, body: dict[str, Any]) -> int:
    return c.submit(body).status_code


def test_prompt_required(c: SimClient) -> None:
    assert _codes(c, {"image_urls": [c.sample_url()]}) == 422


def test_image_urls_rule(c: SimClient) -> None:
    assert _codes(c, c.body()) == 200
    for urls in ([], [c.sample_url()] * 21, ["not-a-url"], "http://x/y.png"):
        assert _codes(c, {**c.body(), "image_urls": urls}) == 422
    assert c.run({**c.body(), "image_urls": ["http://127.0.0.1:1/x.png"]})["status"] == "failed"


@pytest.mark.parametrize(("name", "allowed", "default"), [
    ("aspect_ratio", ASPECT_RATIOS, "auto"), ("resolution", RESOLUTIONS, "1K"),
    ("output_format", OUTPUT_FORMATS, "png")])
def test_enum_rows(c: SimClient, name: str, allowed: tuple[str, ...], default: str) -> None:
    assert _codes(c, {**c.body(), name: "bogus"}) == 422
    for value in allowed:
        assert _codes(c, {**c.body(), name: value}) == 200, value
    defaulted = c.run(c.body())
    assert _size(c, defaulted) == OUTPUT_DIMENSIONS["3:2"]["1K"]  # auto + 1K from a 3:2 shoe
    assert defaulted["output"]["images"][0].endswith(".png")
    assert default in allowed


def test_unknown_fields_rejected(c: SimClient) -> None:
    response = c.submit({**c.body(), "seed": 1})
    assert response.status_code == 422 and response.json()["detail"][0]["field"] == "seed"


def test_twenty_images_accepted_above_google_limit(c: SimClient) -> None:
    assert _codes(c, {**c.body(), "image_urls": [c.sample_url()] * 15}) == 200
    assert _codes(c, {**c.body(), "image_urls": [c.sample_url()] * 20}) == 200


# -- Output dimensions ---------------------------------------------------------------------------

@pytest.mark.parametrize("ratio", list(OUTPUT_DIMENSIONS))
def test_dimension_table_row(c: SimClient, ratio: str) -> None:
    ids = {res: c.submit_ok(c.body(aspect_ratio=ratio, resolution=res, output_format="jpeg"))
           for res in RESOLUTIONS}
    for res, rid in ids.items():
        c.wait_status(rid, timeout=30)
        assert _size(c, c.result(rid).json()) == OUTPUT_DIMENSIONS[ratio][res], res


def test_auto_takes_nearest_ratio_of_first_input(c: SimClient) -> None:
    body = c.body(image="lamp.png")
    body["image_urls"].append(c.sample_url("shoe.png"))
    assert _size(c, c.run(body)) == OUTPUT_DIMENSIONS["2:3"]["1K"]  # lamp is 800x1200


# -- Errors --------------------------------------------------------------------------------------

def _code(response: requests.Response) -> tuple[int, int]:
    return response.status_code, response.json()["error_code"]


def test_error_400001_invalid_model(c: SimClient) -> None:
    assert _code(c.submit(c.body(), path="/v1/models/google/nano-banana/edit")) == (400, 400001)


def test_error_400004_bad_token_is_401() -> None:
    with running_simulator(SimulatorConfig(latency=(0, 0), tokens=("right",))) as sim:
        c = SimClient(sim.base_url, token="wrong")
        assert _code(c.submit(c.body())) == (401, 400004)
        c.close()


def test_error_403001_other_users_request(c: SimClient) -> None:
    rid = c.submit_ok(c.body(), token="alice")
    assert _code(c.status(rid, token="bob")) == (403, 403001)


def test_error_404001_unknown_request(c: SimClient) -> None:
    assert _code(c.result("00000000-0000-4000-8000-000000000000")) == (404, 404001)


def test_error_422001_validation_with_detail(c: SimClient) -> None:
    response = c.submit({"prompt": "p", "image_urls": ["x"]})
    assert _code(response) == (422, 422001)
    assert response.json()["detail"] == [{"field": "image_urls.0", "message": "not a public http(s) URL: 'x'"}]


def test_429_retry_later_with_retry_after() -> None:
    with running_simulator(SimulatorConfig(latency=(0, 0), rate_limit=1)) as sim:
        c = SimClient(sim.base_url)
        c.status("x")
        response = c.status("x")
        assert _code(response) == (429, 429001) and int(response.headers["Retry-After"]) >= 1
        c.close()


def test_5xx_service_unavailable() -> None:
    with running_simulator(SimulatorConfig(latency=(0, 0), error_rate=1.0)) as sim:
        c = SimClient(sim.base_url)
        assert c.submit(c.body()).status_code == 503
        c.close()


def test_no_idempotency_duplicate_submit_is_duplicate_charge() -> None:
    with running_simulator(SimulatorConfig(latency=(0, 0))) as sim:
        c = SimClient(sim.base_url)
        first, second = c.run(c.body()), c.run(c.body())
        assert first["request_id"] != second["request_id"]
        stats = sim.stats()
        assert stats["duplicate_submits"] == 1 and stats["cost_charged"] == pytest.approx(0.30)
        c.close()


# -- Money and time ------------------------------------------------------------------------------

def test_prices_per_image(c: SimClient) -> None:
    for res, price in (("1K", 0.15), ("2K", 0.15), ("4K", 0.30)):
        assert c.run(c.body(resolution=res, output_format="jpeg"))["cost"] == pytest.approx(price)


def test_latency_is_configurable() -> None:
    with running_simulator(SimulatorConfig(latency=(0.3, 0.3))) as sim:
        c = SimClient(sim.base_url)
        rid = c.submit_ok(c.body())
        assert c.status(rid).json()["status"] == "in_progress"
        c.wait_status(rid)
        [job] = sim.jobs()
        assert job["finished_at"] - job["started_at"] >= 0.29
        c.close()


def test_hosted_files_do_not_live_for_ever() -> None:
    with running_simulator(SimulatorConfig(latency=(0, 0), result_ttl=0.2)) as sim:
        c = SimClient(sim.base_url)
        url = c.run(c.body())["output"]["images"][0]
        time.sleep(0.3)
        assert c.download(url).status_code == 404
        c.close()
