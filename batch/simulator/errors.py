"""The API's error answers: ``{"error_code", "error_message", "detail"?}`` with a numeric code."""

from __future__ import annotations

from typing import Any

from aiohttp import web

BAD_MODEL = 400001  # HTTP 400: unknown model path
NO_BALANCE = 400002  # HTTP 402: the account's balance is spent
BAD_TOKEN = 400004  # HTTP 401: missing, malformed or unknown bearer token
OTHER_OWNER = 403001  # HTTP 403: the request id belongs to another token
UNKNOWN_REQUEST = 404001  # HTTP 404: request id unknown
VALIDATION = 422001  # HTTP 422: body failed the input schema (or is not JSON)
TOO_MANY = 429001  # HTTP 429: rate limit or in-flight limit
UNAVAILABLE = 503001  # HTTP 503: injected server error


class ApiError(Exception):
    """An error answer to send: HTTP status, numeric code, message, optional detail and headers."""

    def __init__(self, http_status: int, code: int, message: str, detail: list[dict[str, Any]] | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.http_status = http_status
        self.code = code
        self.message = message
        self.detail = detail
        self.headers = headers or {}

    def response(self) -> web.Response:
        """The JSON error response."""
        body: dict[str, Any] = {"error_code": self.code, "error_message": self.message}
        if self.detail is not None:
            body["detail"] = self.detail
        return web.json_response(body, status=self.http_status, headers=self.headers)


def unauthorized(message: str) -> ApiError:
    """401 with code 400004."""
    return ApiError(401, BAD_TOKEN, message)


def too_many(message: str, retry_after: int) -> ApiError:
    """429 with code 429001 and a ``Retry-After`` header in whole seconds."""
    return ApiError(429, TOO_MANY, message, headers={"Retry-After": str(retry_after)})
