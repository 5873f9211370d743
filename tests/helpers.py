"""Builders shared by the integration and acceptance tests."""

from __future__ import annotations

import io
from collections.abc import Callable, Mapping
from typing import Any

import requests
import urllib3
from requests.adapters import BaseAdapter

from batch.testing.helpers import (  # noqa: F401 (the tests import them from here)
    SAMPLES,
    journal_submits,
    make_runtime,
    make_settings,
    submit_manifest,
    write_manifest,
)

Answer = tuple[int, Mapping[str, str], bytes]


class HandlerAdapter(BaseAdapter):
    """Answers every request by calling ``handler(request)``."""

    def __init__(self, handler: Callable[[requests.PreparedRequest], Answer]) -> None:
        super().__init__()
        self.handler = handler
        self.seen: list[requests.PreparedRequest] = []

    def send(self, request: requests.PreparedRequest, **_: Any) -> requests.Response:  # type: ignore[override]
        self.seen.append(request)
        status, headers, body = self.handler(request)
        response = requests.Response()
        response.status_code = status
        response.headers.update(headers)
        # the body as a stream, as a real adapter gives it: readers that stream (downloads) work too
        response.raw = urllib3.HTTPResponse(body=io.BytesIO(body), headers=dict(headers), status=status,
                                            preload_content=False)
        response.url = request.url or ""
        response.request = request
        return response

    def close(self) -> None:
        """Nothing to close."""
