"""nanobatch's exception tree, written out in one place.

    NanobatchError
    ├── ConfigError              bad or missing configuration (token, URLs)
    ├── InputError               bad user input found before anything is written
    │   ├── ManifestError            a manifest or schedules file with problems (every one listed)
    │   └── (batch.manifest.templates: UnknownVariable, TemplateTooLong, each becomes a problem)
    ├── IllegalTransition        a job state change the transition table refuses (also a ValueError)
    ├── DownloadError            an output file that failed download or verification
    ├── NotifyError              a batch-end notification that did not go through
    ├── StorageError             an object store refused or failed an operation (bucket, credentials)
    │   └── (batch.storage.uploads: InputChanged, a local input edited between hashing and upload)
    └── ApiError                 anything the upstream API call went wrong with
        ├── RetryableError       try again later; the job stays alive
        │   ├── RateLimited          HTTP 429 (``retry_after`` seconds when the server said)
        │   ├── ServerError          HTTP 5xx, 408
        │   ├── NotDelivered         the request surely never reached the server (connect failed)
        │   └── UncertainDelivery    sent, but no answer came (timeout, dropped connection)
        └── PermanentError       retrying cannot help; the job ends failed with the message
            ├── AuthError            401 / 403 (bad token, someone else's request)
            ├── ValidationError      422 (the input body broke the schema)
            ├── NotFound             404 (request id unknown or expired)
            ├── PaymentRequired      402 / 400002 (insufficient balance)
            ├── BadAnswer            an answer we cannot read (not JSON, missing fields)
            └── NotSendable          a request that could not be sent at all (a bad header or URL)

requests' own exceptions are translated into this tree in ``batch.upstream.client`` and nowhere
else, by the table there (HTTP status / error code -> class). No message in this tree ever
contains the API token.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

MAX_SHOWN_PROBLEMS = 50


class NanobatchError(Exception):
    """Base of every error nanobatch raises on purpose."""


class ConfigError(NanobatchError):
    """Configuration is missing or malformed."""


class InputError(NanobatchError):
    """User input (CLI argument, file) is invalid; nothing was written."""


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a manifest, located at ``file:line`` and a dotted ``field``."""

    file: str
    line: int
    field: str
    message: str

    def as_json(self) -> dict[str, Any]:
        """The problem as plain values (``validate --json``)."""
        return {"file": self.file, "line": self.line, "field": self.field, "message": self.message}

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line > 0 else self.file
        return f"{where}: {self.field}: {self.message}" if self.field else f"{where}: {self.message}"


class ManifestError(InputError):
    """The manifest (or schedules file) cannot be used; ``problems`` holds every problem found."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems: list[Problem] = list(problems)
        super().__init__(self.problems)

    def __str__(self) -> str:
        return format_problems(self.problems)


def format_problems(problems: Sequence[Problem], limit: int = MAX_SHOWN_PROBLEMS) -> str:
    """One problem per line, at most ``limit`` of them, then "... and N more problems"."""
    lines = [str(p) for p in problems[:limit]]
    if len(problems) > limit:
        lines.append(f"... and {len(problems) - limit} more problems")
    return "\n".join(lines)



class IllegalTransition(NanobatchError, ValueError):
    """A job state change the transition table does not list (a ValueError too, as it always was)."""

    def __init__(self, source: str, target: str) -> None:
        super().__init__(f"transition {source} -> {target} is not allowed")
        self.source = source
        self.target = target


class NotifyError(NanobatchError):
    """A notification that did not go through (the message is safe to store and log)."""


class DownloadError(NanobatchError):
    """An output could not be downloaded or failed verification."""

    def __init__(self, message: str, *, retryable: bool = False) -> None:
        super().__init__(message)
        self.retryable = retryable


class ApiError(NanobatchError):
    """An upstream API call failed."""

    def __init__(self, message: str, *, status: int | None = None, code: int | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code


class RetryableError(ApiError):
    """A failure that may pass: back off and try again."""


class RateLimited(RetryableError):
    """HTTP 429: the caller must slow down (``retry_after`` seconds, when given)."""

    def __init__(self, message: str, *, retry_after: float | None = None, status: int | None = 429) -> None:
        super().__init__(message, status=status)
        self.retry_after = retry_after


class ServerError(RetryableError):
    """HTTP 5xx or 408: the service is unavailable for now."""


class NotDelivered(RetryableError):
    """The request never reached the server (connection refused, DNS): safe to send again.

    ``unreachable`` says why when no retry can help until someone fixes the setup ("connection
    refused", "host name not found"); None for a failure that may pass (a connect timeout).
    """

    def __init__(self, message: str, *, unreachable: str | None = None) -> None:
        super().__init__(message)
        self.unreachable = unreachable


class UncertainDelivery(RetryableError):
    """The request was sent but no answer came: the server may or may not have acted on it."""


class PermanentError(ApiError):
    """A failure retrying cannot fix."""


class AuthError(PermanentError):
    """401 or 403: bad or expired token, or a request that belongs to another user."""


class ValidationError(PermanentError):
    """422: the input body failed the model's schema."""


class NotFound(PermanentError):
    """404: unknown or expired request id."""


class PaymentRequired(PermanentError):
    """402 or error code 400002: insufficient balance."""


class BadAnswer(PermanentError):
    """An answer that cannot be read: not JSON, or missing the fields the contract promises."""


class NotSendable(PermanentError):
    """A request that could not even be built or sent (a header such as the token that HTTP cannot
    carry, a malformed base URL): nothing reached the server, so it is never an uncertain submit.

    A configuration error: retrying cannot help. Its message names the exception's type only,
    since the text of ``requests``' own (e.g. InvalidHeader) quotes the header's value.
    """


class StorageError(NanobatchError):
    """An object store refused or failed an operation; the message names the place and the reason."""



class DownloadFailed(DownloadError):
    """A download failure of a known ``kind``: a row of the table in ``batch.files.download``,
    which says whether a retry can help and words the message (never a temporary file's name)."""

    def __init__(self, kind: str, message: str, *, retryable: bool) -> None:
        super().__init__(message, retryable=retryable)
        self.kind = kind
