"""The RunComfy Model API client: four calls, answers checked, errors translated here only.

The HTTP transport is a ``requests.Session`` handed in by the caller, so tests can mount their
own adapter instead of patching. The token travels only in the Authorization header; no
exception message built here contains it.
"""

from __future__ import annotations

import http.client
import json
import re
import socket
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from email.utils import parsedate_to_datetime
from typing import Any, Protocol
from urllib.parse import quote

import requests
import urllib3.exceptions

from batch import errors, metrics
from batch.core.cost import job_cost
from batch.core.schema import MODEL_ID
from batch.upstream.http import USER_AGENT, HttpSession, send

SUBMIT_PATH = f"/v1/models/{MODEL_ID}"
STATUS_VALUES = ("in_queue", "in_progress", "completed", "cancelled")
RESULT_VALUES = ("succeeded", "failed", "in_queue", "in_progress", "cancelled")
OUTPUT_KEYS = ("images", "image", "videos", "video")
MAX_RAW_ANSWER = 64 * 1024  # characters of a /result answer kept in the database
MAX_ODD_COST = 100  # characters of an odd cost kept on the job (the whole answer is in result_raw)
# a request id goes into URL paths: letters, digits, - and _ only (a UUID is), nothing a path could read
PLAIN_REQUEST_ID = re.compile(r"[A-Za-z0-9_-]{1,200}")
# raised while the request is built, before anything is sent
_rx = requests.exceptions
NOT_SENDABLE = (_rx.InvalidHeader, _rx.InvalidURL, _rx.MissingSchema, _rx.InvalidSchema, _rx.URLRequired,
                _rx.InvalidJSONError)


@dataclass(frozen=True)
class Status:
    """An answer of ``/status``."""

    status: str
    queue_position: int | None


@dataclass(frozen=True)
class Result:
    """An answer of ``/result``: output URLs when succeeded (possibly none that could be read), the
    message when failed, and the answer as it came (``raw``)."""

    status: str
    urls: list[str]
    error: str | None
    cost: Decimal | None  # exact dollars, as upstream printed them
    upstream_seconds: float | None = None  # finished_at - created_at, as upstream reports them
    raw: dict[str, Any] = field(default_factory=dict)
    odd_cost: str | None = None  # a cost given that is no amount of one job (``core.cost.job_cost``), as JSON text

    def kept_raw(self) -> dict[str, Any]:
        """``raw`` as stored in ``jobs.result_raw``: as it came, unless oversized (then its JSON text, cut)."""
        text = json.dumps(self.raw)
        return self.raw if len(text) <= MAX_RAW_ANSWER else {"nanobatch_truncated": text[:MAX_RAW_ANSWER]}


class Api(Protocol):
    """The four calls the steps make upstream: ``ApiClient``, or ``batch.testing.fake_api.FakeApi``."""

    def submit(self, inputs: dict[str, Any]) -> str:
        """POST the job; the upstream request id."""

    def status(self, request_id: str) -> Status:
        """The request's status."""

    def result(self, request_id: str) -> Result:
        """The request's result."""

    def cancel(self, request_id: str) -> str:
        """Ask for a cancel: ``cancelled`` or ``not_cancellable``."""


class ApiClient:
    """Synchronous client for ``google/nano-banana/pro/edit`` on RunComfy's Model API."""

    def __init__(self, base_url: str, token: str, *, http: requests.Session | None = None,
                 timeout: float = 20.0) -> None:
        self.base_url = base_url.rstrip("/")
        self._token = token
        self._http = http or HttpSession()
        self._timeout = timeout

    def __repr__(self) -> str:
        return f"ApiClient({self.base_url!r})"

    def submit(self, inputs: dict[str, Any]) -> str:
        """POST the job; returns the upstream request id."""
        body = self._call("POST", SUBMIT_PATH, "submit", json=inputs)
        request_id = body.get("request_id")
        if not isinstance(request_id, str) or not request_id:
            raise errors.BadAnswer("submit answer has no request_id")
        if not PLAIN_REQUEST_ID.fullmatch(request_id):
            raise errors.BadAnswer(f"submit answer has a request_id nanobatch will not put in a URL "
                                   f"({request_id[:60]!r}: only letters, digits, - and _ are taken); "
                                   "upstream may have accepted the job")
        return request_id

    def status(self, request_id: str) -> Status:
        """GET the request's status."""
        path = _request_path(request_id, "status")
        what = f"GET {path}"
        body = self._call("GET", path, "status")
        status = _status_in(body, STATUS_VALUES, what)
        position = body.get("queue_position")
        return Status(status, position if isinstance(position, int) else None)

    def result(self, request_id: str) -> Result:
        """GET the request's result, asking for its cost.

        The outputs of a succeeded job are read from every plausible shape (see ``output_urls``);
        unknown fields are ignored. An unknown status is a RetryableError (asked again later).
        """
        path = _request_path(request_id, "result")
        what = f"GET {path}"
        body = self._call("GET", path, "result", params={"include_cost": "true"})
        status = _status_in(body, RESULT_VALUES, what)
        urls = output_urls(body) if status == "succeeded" else []
        cost, odd_cost = _cost(body.get("cost"))
        error = body.get("error")
        return Result(
            status=status,
            urls=urls,
            error=str(error) if error is not None else None,
            cost=cost,
            upstream_seconds=_elapsed(body.get("created_at"), body.get("finished_at")),
            raw=body,
            odd_cost=odd_cost,
        )

    def cancel(self, request_id: str) -> str:
        """POST a cancel; returns the outcome, ``cancelled`` or ``not_cancellable``."""
        body = self._call("POST", _request_path(request_id, "cancel"), "cancel")
        return _field_in(body, "outcome", ("cancelled", "not_cancellable"))

    def _call(self, method: str, path: str, kind: str, *, json: Any = None, params: dict[str, str] | None = None
              ) -> dict[str, Any]:
        """One call, counted in ``batch.metrics`` by ``kind`` and its answer (or why there was none)."""
        headers = {"Authorization": f"Bearer {self._token}", "User-Agent": USER_AGENT, "Accept": "application/json"}
        try:
            response = send(self._http, method, self.base_url + path, headers=headers, timeout=self._timeout,
                            json=json, params=params)
        except (requests.RequestException, ValueError) as exc:  # ValueError: http.client's checks before sending
            error = translate_transport_error(exc, f"{method} {path}")
            metrics.no_answer(kind, error)
            raise error from None
        except http.client.HTTPException as exc:  # an answer http.client could not read
            metrics.api_call(kind, "unreadable")
            raise errors.UncertainDelivery(f"{method} {path}: no answer ({type(exc).__name__})") from None
        metrics.api_call(kind, response.status_code)
        return _read_answer(response, f"{method} {path}")


def _request_path(request_id: str, call: str) -> str:
    """``/v1/requests/{id}/{call}``, the id quoted whole (a stored id is plain; nothing in it reaches the path)."""
    return f"/v1/requests/{quote(request_id, safe='')}/{call}"


def translate_transport_error(exc: requests.RequestException | ValueError, what: str) -> errors.ApiError:
    """Map a requests exception (or http.client's ValueError about the request) to NotSendable (it
    could not be sent: bad header or URL), NotDelivered (never reached the server) or
    UncertainDelivery (sent, no answer).

    The message names the exception's type only: requests' texts may quote a header's value.
    """
    if isinstance(exc, NOT_SENDABLE) or not isinstance(exc, requests.RequestException):
        return errors.NotSendable(f"{what}: the request could not be sent ({type(exc).__name__}): "
                                  "check RUNCOMFY_API_TOKEN and RUNCOMFY_API_BASE")
    if isinstance(exc, requests.ConnectTimeout) or _is_connect_failure(exc):
        unreachable = _unreachable(exc)
        return errors.NotDelivered(f"{what}: could not connect ({unreachable or type(exc).__name__})",
                                   unreachable=unreachable)
    return errors.UncertainDelivery(f"{what}: no answer ({type(exc).__name__})")


def _unreachable(exc: BaseException) -> str | None:
    """"connection refused" or "host name not found" when the chain of causes says so, else None."""
    seen: BaseException | None = exc
    for _ in range(8):
        if seen is None:
            return None
        if isinstance(seen, ConnectionRefusedError):
            return "connection refused"
        if isinstance(seen, socket.gaierror) or type(seen).__name__ == "NameResolutionError":
            return "host name not found"
        if isinstance(seen, urllib3.exceptions.MaxRetryError) and seen.reason is not None:
            seen = seen.reason
            continue
        seen = seen.__cause__ or seen.__context__ or next(
            (arg for arg in seen.args if isinstance(arg, BaseException)), None)
    return None


def _is_connect_failure(exc: BaseException) -> bool:
    seen: BaseException | None = exc
    for _ in range(6):
        if seen is None:
            return False
        if isinstance(seen, urllib3.exceptions.NewConnectionError | ConnectionRefusedError):
            return True
        if isinstance(seen, urllib3.exceptions.MaxRetryError) and seen.reason is not None:
            seen = seen.reason
            continue
        seen = seen.args[0] if seen.args and isinstance(seen.args[0], BaseException) else seen.__context__
    return False


def _read_answer(response: requests.Response, what: str) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        body = None
    if response.status_code >= 400 or (isinstance(body, dict) and body.get("error_code")):
        raise _http_error(response, body, what)
    if not isinstance(body, dict):
        raise errors.BadAnswer(f"{what}: answer is not a JSON object (HTTP {response.status_code})")
    return body


def _http_error(response: requests.Response, body: Any, what: str) -> errors.ApiError:
    status = response.status_code
    code = body.get("error_code") if isinstance(body, dict) else None
    text = body.get("error_message") if isinstance(body, dict) else None
    message = f"{what}: HTTP {status}" + (f" error {code}" if code else "") + (f": {text}" if text else "")
    kind = error_kind(status, code if isinstance(code, int) else None)
    if kind is errors.RateLimited:
        return errors.RateLimited(message, retry_after=retry_after_seconds(response.headers.get("Retry-After")))
    return kind(message, status=status, code=code if isinstance(code, int) else None)


@dataclass(frozen=True)
class ErrorRule:
    """One row of the classification: answers with one of ``statuses`` or ``codes`` raise ``kind``."""

    kind: type[errors.ApiError]
    statuses: frozenset[int]
    codes: frozenset[int] = frozenset()

    @property
    def retryable(self) -> bool:
        """Whether the job stays alive and tries again (the class's branch of the tree says so)."""
        return issubclass(self.kind, errors.RetryableError)


# Read top down, the first row that matches wins (a 500 carrying a balance error code is still a
# server error); an error answer no row matches is a plain PermanentError.
ERROR_TABLE: tuple[ErrorRule, ...] = (
    #         class                    HTTP statuses                           error_code
    ErrorRule(errors.RateLimited,     frozenset({429}),                        frozenset({429001})),
    ErrorRule(errors.ServerError,     frozenset({408, *range(500, 600)})),
    ErrorRule(errors.PaymentRequired, frozenset({402}),                        frozenset({400002})),
    ErrorRule(errors.AuthError,       frozenset({401, 403}),                   frozenset({400004, 403001})),
    ErrorRule(errors.NotFound,        frozenset({404}),                        frozenset({404001})),
    ErrorRule(errors.ValidationError, frozenset({422}),                        frozenset({422001})),
)


def error_kind(status: int, code: int | None) -> type[errors.ApiError]:
    """The error class of an error answer: the first row of ``ERROR_TABLE`` that matches it."""
    return next((rule.kind for rule in ERROR_TABLE if status in rule.statuses or code in rule.codes),
                errors.PermanentError)


def retry_after_seconds(value: str | None) -> float | None:
    """Parse a Retry-After header (seconds or an HTTP date) into seconds, None if absent or bad."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        from time import time

        return max(0.0, parsedate_to_datetime(value).timestamp() - time())
    except (TypeError, ValueError):
        return None


def _field_in(body: dict[str, Any], name: str, allowed: tuple[str, ...]) -> str:
    value = body.get(name)
    if value not in allowed:
        raise errors.BadAnswer(f"answer field {name!r} is {value!r}, expected one of {', '.join(allowed)}")
    return str(value)


def _status_in(body: dict[str, Any], allowed: tuple[str, ...], what: str) -> str:
    """The answer's ``status``; one we do not know is taken as "not finished yet": retried, so bounded."""
    value = body.get("status")
    if value not in allowed:
        shown = repr(value)[:40]
        raise errors.RetryableError(f"{what}: upstream status {shown} is not one nanobatch knows "
                                    f"({', '.join(allowed)}); taken as not finished yet")
    return str(value)


def output_urls(body: dict[str, Any]) -> list[str]:
    """The output URLs of a succeeded ``/result`` answer, in order, each once.

    Looked for under ``output`` and at the top level of the answer, at the keys ``images``,
    ``image``, ``videos`` and ``video``; a value is a URL string, an object with a ``url``, or a
    list of either. ``output`` may also be the URL or the list itself.
    """
    urls: list[str] = []
    output = body.get("output")
    holders = [{"images": output} if isinstance(output, str | list) else output, body]
    for holder in holders:
        if isinstance(holder, dict):
            for key in OUTPUT_KEYS:
                urls.extend(_urls_in(holder.get(key)))
    return list(dict.fromkeys(urls))


def _urls_in(value: Any) -> list[str]:
    found: list[str] = []
    for item in value if isinstance(value, list) else [value]:
        url = item.get("url") if isinstance(item, dict) else item
        if isinstance(url, str) and url:
            found.append(url)
    return found


def _cost(value: Any) -> tuple[Decimal | None, str | None]:
    """The ``cost`` of a result as exact dollars (0.15 stays 0.15), or, when it is given but is no
    finite amount from 0 to ``MAX_JOB_COST`` (1e30, -98.95, "abc"), None and its JSON text, cut."""
    if value is None:
        return None, None
    if not isinstance(value, bool) and isinstance(value, int | float | str):
        try:
            return job_cost(value), None
        except ValueError:
            pass
    return None, json.dumps(value)[:MAX_ODD_COST]


def _elapsed(start: Any, end: Any) -> float | None:
    """Seconds between two answer timestamps (ISO 8601 or UNIX seconds); None if either is missing or odd."""
    begin, finish = _timestamp(start), _timestamp(end)
    if begin is None or finish is None or finish < begin:
        return None
    return finish - begin


def _timestamp(value: Any) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
        except ValueError:
            return None
    return None
