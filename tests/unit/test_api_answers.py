"""The real API's answers are only known from its documentation: the reader takes every plausible shape."""

from __future__ import annotations

import json
from typing import Any

import pytest
import requests

from batch import errors
from batch.simulator.shapes import RESULT_SHAPES, output_fields
from batch.upstream.client import MAX_RAW_ANSWER, ApiClient, Result, output_urls
from tests.helpers import HandlerAdapter

A, B = "https://cdn.example/a.png", "https://cdn.example/b.png"


def client_answering(body: Any) -> ApiClient:
    http = requests.Session()
    http.mount("http://", HandlerAdapter(lambda _request: (200, {}, json.dumps(body).encode())))
    return ApiClient("http://api.test", "tok", http=http)


@pytest.mark.parametrize(
    ("body", "urls"),
    [
        ({"output": {"images": [A, B]}}, [A, B]),
        ({"output": {"image": A}}, [A]),
        ({"output": {"images": [{"url": A, "width": 1024}, {"url": B}]}}, [A, B]),
        ({"output": {"image": {"url": A, "content_type": "image/png"}}}, [A]),
        ({"images": [A, B]}, [A, B]),
        ({"image": {"url": A}}, [A]),
        ({"output": {"videos": [{"url": A}], "video": B}}, [A, B]),
        ({"output": [A, {"url": B}]}, [A, B]),
        ({"output": A}, [A]),
        ({"output": {"images": [A]}, "images": [A, B]}, [A, B]),  # listed twice: once each
        ({"output": {"images": [None, 7, {"href": A}, ""], "description": B}}, []),
        ({"output": {"images": [A], "seed": 1}, "timings": {"inference": 2.5}, "nsfw": [False]}, [A]),
    ],
)
def test_output_urls_in_every_plausible_shape(body: dict[str, Any], urls: list[str]) -> None:
    assert output_urls(body) == urls


def test_unknown_status_is_retryable_not_finished_yet() -> None:
    client = client_answering({"request_id": "r", "status": "paused"})
    with pytest.raises(errors.RetryableError) as caught:
        client.result("r")
    assert str(caught.value) == ("GET /v1/requests/r/result: upstream status 'paused' is not one nanobatch knows "
                                 "(succeeded, failed, in_queue, in_progress, cancelled); taken as not finished yet")
    with pytest.raises(errors.RetryableError, match=r"^GET /v1/requests/r/status: upstream status 'paused'"):
        client.status("r")


def test_result_keeps_the_raw_answer_and_cuts_an_oversized_one() -> None:
    body = {"request_id": "r", "status": "succeeded", "output": {"images": [A]}, "extra": {"x": 1}}
    result = client_answering(body).result("r")
    assert (result.urls, result.raw, result.kept_raw()) == ([A], body, body)
    huge = Result("failed", [], "e", None, raw={"error": "x" * MAX_RAW_ANSWER})
    kept = huge.kept_raw()
    assert list(kept) == ["nanobatch_truncated"] and len(kept["nanobatch_truncated"]) == MAX_RAW_ANSWER


@pytest.mark.parametrize("shape", RESULT_SHAPES)
def test_every_simulator_shape_is_read(shape: str) -> None:
    assert output_urls(output_fields(shape, [A])) == [A]


def test_simulator_result_shape_switch_is_checked() -> None:
    from click.testing import CliRunner

    from batch.simulator import SimulatorConfig
    from batch.simulator.cli import simulate

    assert SimulatorConfig(result_shape="video").result_shape == "video"
    with pytest.raises(ValueError, match=r"^result_shape: must be one of images, image, "):
        SimulatorConfig(result_shape="pictures")
    done = CliRunner().invoke(simulate, ["--result-shape", "pictures"])
    assert done.exit_code == 2 and "'pictures' is not one of 'images', 'image'" in done.output
