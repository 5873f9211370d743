"""The API client: answers read, errors translated at the one edge, the token never echoed.

The transport is swapped, not patched: a requests adapter that calls a handler function.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

import pytest
import requests

from batch import errors
from batch.upstream.client import ERROR_TABLE, ApiClient, error_kind, retry_after_seconds
from tests.helpers import Answer, HandlerAdapter

TOKEN = "sk-very-secret"


def client_for(handler: Callable[[requests.PreparedRequest], Answer]) -> tuple[ApiClient, HandlerAdapter]:
    http = requests.Session()
    adapter = HandlerAdapter(handler)
    http.mount("http://", adapter)
    return ApiClient("http://api.test", TOKEN, http=http), adapter


def answer(status: int, body: Any, headers: Mapping[str, str] | None = None) -> Callable[..., Answer]:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return lambda _request: (status, headers or {}, raw)


def test_submit_sends_bearer_token_and_body() -> None:
    client, adapter = client_for(answer(200, {"request_id": "r1", "status_url": "s", "result_url": "r"}))
    assert client.submit({"prompt": "p", "image_urls": ["https://x/y.png"]}) == "r1"
    sent = adapter.seen[0]
    assert sent.headers["Authorization"] == f"Bearer {TOKEN}"
    assert sent.url == "http://api.test/v1/models/google/nano-banana/pro/edit"
    assert json.loads(sent.body or b"{}")["prompt"] == "p"


@pytest.mark.parametrize(
    ("status", "body", "kind"),
    [
        (401, {"error_code": 400004, "error_message": "bad token"}, errors.AuthError),
        (403, {"error_code": 403001, "error_message": "not yours"}, errors.AuthError),
        (402, {"error_code": 400002, "error_message": "no money"}, errors.PaymentRequired),
        (400, {"error_code": 400001, "error_message": "bad model"}, errors.PermanentError),
        (404, {"error_code": 404001, "error_message": "unknown"}, errors.NotFound),
        (422, {"error_code": 422001, "error_message": "invalid", "detail": []}, errors.ValidationError),
        (429, {"error_code": 429001, "error_message": "slow down"}, errors.RateLimited),
        (408, b"", errors.ServerError),
        (503, {"error_code": 503001, "error_message": "busy"}, errors.ServerError),
        (500, b"<html>oops</html>", errors.ServerError),
        (200, {"error_code": 400002, "error_message": "no money"}, errors.PaymentRequired),
        (200, b"not json", errors.BadAnswer),
    ],
)
def test_errors_are_translated(status: int, body: Any, kind: type[errors.ApiError]) -> None:
    client, _ = client_for(answer(status, body))
    with pytest.raises(kind) as caught:
        client.status("r1")
    assert TOKEN not in str(caught.value)
    assert isinstance(caught.value, errors.RetryableError) == (status in (408, 429, 500, 503))


def test_retry_after_is_read() -> None:
    client, _ = client_for(answer(429, {"error_code": 429001}, {"Retry-After": "3"}))
    with pytest.raises(errors.RateLimited) as caught:
        client.submit({})
    assert caught.value.retry_after == 3.0


@pytest.mark.parametrize(
    ("header", "expected"),
    [(None, None), ("", None), ("2.5", 2.5), ("-4", 0.0), ("soon", None), ("Wed, 21 Oct 2015 07:28:00 GMT", 0.0)],
)
def test_retry_after_seconds(header: str | None, expected: float | None) -> None:
    assert retry_after_seconds(header) == expected


@pytest.mark.parametrize(
    ("output", "urls"),
    [
        ({"images": ["a", "b"]}, ["a", "b"]),
        ({"image": "a"}, ["a"]),
        ({"video": "v"}, ["v"]),
        ({"videos": ["v1"], "image": "i"}, ["i", "v1"]),
    ],
)
def test_result_lists_every_output_key(output: dict[str, Any], urls: list[str]) -> None:
    body = {"request_id": "r", "status": "succeeded", "output": output, "cost": 0.15}
    client, adapter = client_for(answer(200, body))
    result = client.result("r")
    assert sorted(result.urls) == sorted(urls) and result.cost == Decimal("0.15")
    assert "include_cost=true" in (adapter.seen[0].url or "")


def test_failed_result_keeps_the_message() -> None:
    client, _ = client_for(answer(200, {"request_id": "r", "status": "failed", "error": "NSFW"}))
    result = client.result("r")
    assert (result.status, result.error, result.urls) == ("failed", "NSFW", [])


def test_succeeded_without_output_lists_no_urls_and_keeps_the_answer() -> None:
    body = {"request_id": "r", "status": "succeeded", "output": {}}
    client, _ = client_for(answer(200, body))
    result = client.result("r")
    assert (result.status, result.urls, result.raw) == ("succeeded", [], body)


def test_connection_refused_is_not_delivered() -> None:
    client = ApiClient("http://127.0.0.1:1", TOKEN, timeout=2)
    with pytest.raises(errors.NotDelivered):
        client.submit({"prompt": "p"})


def test_timeout_after_sending_is_uncertain() -> None:
    def hang(_request: requests.PreparedRequest) -> Answer:
        raise requests.ReadTimeout("read timed out")

    client, _ = client_for(hang)
    with pytest.raises(errors.UncertainDelivery) as caught:
        client.submit({"prompt": "p"})
    assert TOKEN not in str(caught.value)


@pytest.mark.parametrize(
    ("status", "code", "kind"),
    [
        (429, None, errors.RateLimited),
        (200, 429001, errors.RateLimited),
        (402, 429001, errors.RateLimited),        # the rate limit row comes first
        (408, None, errors.ServerError),
        (503, None, errors.ServerError),
        (500, 400002, errors.ServerError),        # a 5xx stays retryable whatever code it carries
        (402, None, errors.PaymentRequired),
        (400, 400002, errors.PaymentRequired),
        (401, None, errors.AuthError),
        (400, 403001, errors.AuthError),
        (404, None, errors.NotFound),
        (400, 404001, errors.NotFound),
        (422, None, errors.ValidationError),
        (400, 422001, errors.ValidationError),
        (400, None, errors.PermanentError),
        (418, 999999, errors.PermanentError),
    ],
)
def test_the_error_table_classifies_status_and_code(status: int, code: int | None, kind: type) -> None:
    assert error_kind(status, code) is kind


def test_only_rate_limits_and_server_errors_are_retryable_rows() -> None:
    assert {rule.kind for rule in ERROR_TABLE if rule.retryable} == {errors.RateLimited, errors.ServerError}
