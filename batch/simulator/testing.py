"""A small blocking client for the simulator, for tests and benchmarks (uses ``requests``).

It speaks the documented API only; it does no retries, so tests see every answer as sent.
"""

from __future__ import annotations

import time
from typing import Any

import requests

from batch.core.schema import MODEL_ID

SUBMIT_PATH = f"/v1/models/{MODEL_ID}"
DEFAULT_TOKEN = "test-token"


class SimClient:
    """Calls one simulator with one bearer token over a keep-alive session."""

    def __init__(self, base_url: str, token: str = DEFAULT_TOKEN, timeout: float = 15.0) -> None:
        self.base_url = base_url
        self.token = token
        self.timeout = timeout
        self.session = requests.Session()

    def close(self) -> None:
        """Close the underlying connections."""
        self.session.close()

    def _headers(self, token: str | None) -> dict[str, str]:
        return {"Authorization": f"Bearer {token or self.token}"}

    def sample_url(self, name: str = "shoe.png") -> str:
        """URL of a catalog sample on this simulator."""
        return f"{self.base_url}/samples/{name}"

    def body(self, prompt: str = "put it on a beach", image: str = "shoe.png", **fields: Any) -> dict[str, Any]:
        """A valid submit body using a catalog sample, with extra ``fields``."""
        return {"prompt": prompt, "image_urls": [self.sample_url(image)], **fields}

    def submit(self, body: Any, token: str | None = None, path: str = SUBMIT_PATH) -> requests.Response:
        """POST a submit (``body`` sent as JSON)."""
        return self.session.post(self.base_url + path, json=body, headers=self._headers(token),
                                 timeout=self.timeout)

    def status(self, request_id: str, token: str | None = None) -> requests.Response:
        """GET the status of ``request_id``."""
        return self.session.get(f"{self.base_url}/v1/requests/{request_id}/status",
                                headers=self._headers(token), timeout=self.timeout)

    def result(self, request_id: str, include_cost: bool = False, token: str | None = None) -> requests.Response:
        """GET the result of ``request_id`` (optionally with ``include_cost=true``)."""
        query = "?include_cost=true" if include_cost else ""
        return self.session.get(f"{self.base_url}/v1/requests/{request_id}/result{query}",
                                headers=self._headers(token), timeout=self.timeout)

    def cancel(self, request_id: str, token: str | None = None) -> requests.Response:
        """POST a cancel for ``request_id``."""
        return self.session.post(f"{self.base_url}/v1/requests/{request_id}/cancel",
                                 headers=self._headers(token), timeout=self.timeout)

    def submit_ok(self, body: Any, token: str | None = None) -> str:
        """Submit, insist on 200, return the request id."""
        response = self.submit(body, token)
        if response.status_code != 200:
            raise RuntimeError(f"submit answered {response.status_code}: {response.text}")
        request_id: str = response.json()["request_id"]
        return request_id

    def wait_status(self, request_id: str, wanted: tuple[str, ...] = ("completed", "cancelled"),
                    timeout: float = 20.0, interval: float = 0.02) -> dict[str, Any]:
        """Poll /status until its ``status`` is one of ``wanted``; the last body. TimeoutError if not."""
        deadline = time.monotonic() + timeout
        while True:
            body: dict[str, Any] = self.status(request_id).json()
            if body.get("status") in wanted:
                return body
            if time.monotonic() > deadline:
                raise TimeoutError(f"{request_id} still {body.get('status')} after {timeout} s")
            time.sleep(interval)

    def run(self, body: Any, timeout: float = 20.0) -> dict[str, Any]:
        """Submit, wait for the end, and return the /result body (with cost)."""
        request_id = self.submit_ok(body)
        self.wait_status(request_id, timeout=timeout)
        result: dict[str, Any] = self.result(request_id, include_cost=True).json()
        return result

    def download(self, url: str) -> requests.Response:
        """GET a hosted file (no auth, like a CDN)."""
        return self.session.get(url, timeout=self.timeout)
