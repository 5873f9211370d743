"""An in-memory stand-in for the API client, in the style of procrastinate's in-memory connector.

``FakeApi`` answers the client's four calls (``submit``, ``status``, ``result``, ``cancel``) from
answers a test scripts per call, in order, and records every call it gets::

    api = FakeApi()
    api.script("submit", "req-1")                                   # an answer
    api.script("result", errors.RateLimited("slow down", retry_after=30.0))  # an error, raised
    api.script("status", lambda request_id: Status("in_queue", 3))  # computed when the call comes
    ...
    assert api.names() == ["submit", "result"]

An answer may be a value, an exception of ``batch.errors`` (raised by the call), or a callable
given the call's argument (its return value is the answer; it may raise, or act on the world,
e.g. take a job's lease away in the middle of the call). When a call has no scripted answer
left it gets its default: a new request id for ``submit``, ``in_progress`` for ``status`` and
``result``, ``cancelled`` for ``cancel``.
"""

from __future__ import annotations

import itertools
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from batch.upstream.client import Result, Status

CALLS = ("submit", "status", "result", "cancel")


@dataclass(frozen=True)
class ApiCall:
    """One call the fake received: its name and its argument (the inputs, or the request id)."""

    name: str
    arg: Any


class FakeApi:
    """Scripted answers for the API client's four calls; every call recorded in ``calls``."""

    def __init__(self) -> None:
        self.calls: list[ApiCall] = []
        self._answers: dict[str, deque[Any]] = {name: deque() for name in CALLS}
        self._ids = itertools.count(1)

    def __repr__(self) -> str:
        return f"FakeApi({len(self.calls)} calls)"

    def script(self, call: str, *answers: Any) -> FakeApi:
        """Queue ``answers`` for the next calls of ``call``, one per call, in order."""
        if call not in CALLS:
            raise ValueError(f"FakeApi.script: unknown call {call!r}, expected one of {', '.join(CALLS)}")
        self._answers[call].extend(answers)
        return self

    def names(self) -> list[str]:
        """The names of the calls received, in order."""
        return [c.name for c in self.calls]

    def submit(self, inputs: dict[str, Any]) -> str:
        """The scripted request id (default ``fake-<n>``), or the scripted error."""
        return str(self._answer("submit", inputs, lambda: f"fake-{next(self._ids)}"))

    def status(self, request_id: str) -> Status:
        """The scripted ``Status`` (default in progress), or the scripted error."""
        answer: Status = self._answer("status", request_id, lambda: Status("in_progress", None))
        return answer

    def result(self, request_id: str) -> Result:
        """The scripted ``Result`` (default in progress), or the scripted error."""
        answer: Result = self._answer("result", request_id, lambda: Result("in_progress", [], None, None))
        return answer

    def cancel(self, request_id: str) -> str:
        """The scripted outcome (default ``cancelled``), or the scripted error."""
        return str(self._answer("cancel", request_id, lambda: "cancelled"))

    def _answer(self, call: str, arg: Any, default: Callable[[], Any]) -> Any:
        self.calls.append(ApiCall(call, arg))
        queued = self._answers[call]
        answer = queued.popleft() if queued else default()
        if isinstance(answer, BaseException):
            raise answer
        if callable(answer):
            return answer(arg)
        return answer
