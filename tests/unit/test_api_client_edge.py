"""Requests that fail before being sent: a permanent NotSendable, never an uncertain submit, no text quoted."""

from __future__ import annotations

import http.client
import json

import pytest
import requests

from batch import errors
from batch.upstream.client import ApiClient
from batch.upstream.http import header_value_ok
from tests.helpers import HandlerAdapter

SECRET = "sk-edge-secret"


def client(base: str, token: str) -> tuple[ApiClient, HandlerAdapter]:
    http = requests.Session()
    adapter = HandlerAdapter(lambda _request: (200, {}, b'{"request_id": "r1"}'))
    http.mount("http://", adapter)
    return ApiClient(base, token, http=http), adapter


@pytest.mark.parametrize(
    ("base", "token", "kind"),
    [
        ("http://api.test", "\ufeff" + SECRET, "InvalidHeader"),
        ("http://api.test", SECRET + "\nX-Evil: 1", "InvalidHeader"),
        ("http://api.test", SECRET + "\r", "InvalidHeader"),  # requests' own check, whose text quotes the value
        ("http://api.test", SECRET + "\u2028", "InvalidHeader"),
        ("api.test", SECRET, "MissingSchema"),
        ("http://", SECRET, "InvalidURL"),
        ("gopher://api.test", SECRET, "InvalidSchema"),
    ],
)
def test_unsendable_request_is_permanent_and_quotes_nothing(base: str, token: str, kind: str) -> None:
    api, adapter = client(base, token)
    with pytest.raises(errors.NotSendable) as err:
        api.submit({"prompt": "p"})
    assert str(err.value) == (f"POST /v1/models/google/nano-banana/pro/edit: the request could not be sent "
                              f"({kind}): check RUNCOMFY_API_TOKEN and RUNCOMFY_API_BASE")
    assert isinstance(err.value, errors.PermanentError)
    assert err.value.__cause__ is None and err.value.__suppress_context__
    assert adapter.seen == []


def raising(exc: Exception) -> ApiClient:
    def handler(_request: requests.PreparedRequest) -> tuple[int, dict[str, str], bytes]:
        raise exc

    http = requests.Session()
    http.mount("http://", HandlerAdapter(handler))
    return ApiClient("http://api.test", SECRET, http=http)


def test_http_client_refusing_a_header_is_not_sendable_and_not_quoted() -> None:
    api = raising(ValueError(f"Invalid header value b'Bearer {SECRET}\\n'"))  # as http.client words it
    with pytest.raises(errors.NotSendable) as err:
        api.submit({"prompt": "p"})
    assert SECRET not in str(err.value) and "(ValueError)" in str(err.value)


def test_unreadable_answer_after_sending_stays_uncertain() -> None:
    api = raising(http.client.BadStatusLine(f"Bearer {SECRET}"))
    with pytest.raises(errors.UncertainDelivery) as err:
        api.submit({"prompt": "p"})
    assert str(err.value) == "POST /v1/models/google/nano-banana/pro/edit: no answer (BadStatusLine)"


@pytest.mark.parametrize(
    ("value", "ok"),
    [("Bearer sk-1", True), ("a\tb", True), ("caf\u00e9", True), (b"ab", True), ("\ufeffx", False),
     ("a\nb", False), ("a\r", False), ("a\x00", False), ("a\x7f", False), ("\u20ac", False),
     ("\U0001f600", False), (b"a\r", False)],
)
def test_header_values_http_can_carry(value: str | bytes, ok: bool) -> None:
    assert header_value_ok(value) is ok


@pytest.mark.parametrize("odd", ["../../v1/x?y=", "a/b", "r1?x=1", "r1#f", "%2e%2e", "..", "r 1", "é", "a" * 201])
def test_a_request_id_that_is_not_plain_is_a_bad_answer_and_never_reaches_a_url(odd: str) -> None:
    http = requests.Session()
    adapter = HandlerAdapter(lambda _request: (200, {}, json.dumps({"request_id": odd}).encode()))
    http.mount("http://", adapter)
    api = ApiClient("http://api.test", SECRET, http=http)
    with pytest.raises(errors.BadAnswer) as err:
        api.submit({"prompt": "p"})
    assert "request_id" in str(err.value) and "may have accepted" in str(err.value)
    assert [r.path_url for r in adapter.seen] == ["/v1/models/google/nano-banana/pro/edit"]


def test_a_plain_request_id_is_taken_and_every_call_stays_under_its_own_path() -> None:
    answers = {"POST": {"request_id": "Ab-9_x", "outcome": "cancelled"}, "GET": {"status": "in_queue"}}
    http = requests.Session()
    adapter = HandlerAdapter(lambda request: (200, {}, json.dumps(answers[request.method or ""]).encode()))
    http.mount("http://", adapter)
    api = ApiClient("http://api.test", SECRET, http=http)
    request_id = api.submit({"prompt": "p"})
    api.status(request_id), api.result(request_id), api.cancel(request_id)
    api.status("../x?y=")  # a stored id from before this check: quoted whole, still under /v1/requests/
    assert [r.path_url for r in adapter.seen[1:]] == [
        "/v1/requests/Ab-9_x/status", "/v1/requests/Ab-9_x/result?include_cost=true",
        "/v1/requests/Ab-9_x/cancel", "/v1/requests/..%2Fx%3Fy%3D/status"]
