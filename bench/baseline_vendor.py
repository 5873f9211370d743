"""What a vendor's client does, as the baseline for the call-economy benchmark.

One thread per job (as many as asked): submit, then poll ``/status`` every 2 s at a fixed
interval until it says completed, then read ``/result`` once and, when given a folder, download
the output into it (streamed to a temp file, fsynced, renamed; the time it lands is kept per
request). No rate limit, no shared budget, no learning, no checks of the image.

Used by ``bench_economy.py``; runnable alone against a running simulator:
``.venv/bin/python bench/baseline_vendor.py http://127.0.0.1:8765 --jobs 20``
"""

from __future__ import annotations

import argparse
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

SUBMIT_PATH = "/v1/models/google/nano-banana/pro/edit"
POLL_SECONDS = 2.0


@dataclass
class VendorRun:
    """What the baseline did: calls made, request ids, its wall time, and when each file landed."""

    calls: int
    request_ids: list[str]
    seconds: float
    saved_at: dict[str, float] = field(default_factory=dict)  # request id -> time.time() of the rename


def body(base_url: str, n: int) -> dict[str, Any]:
    """The input of job ``n`` (distinct prompts, a sample image of the simulator)."""
    return {"prompt": f"vendor baseline job {n}", "image_urls": [f"{base_url}/samples/shoe.png"],
            "aspect_ratio": "1:1", "resolution": "1K", "output_format": "jpeg"}


class VendorClient:
    """Submit, then fixed-interval polling; thread-safe call counting."""

    def __init__(self, base_url: str, token: str = "bench", poll: float = POLL_SECONDS, timeout: float = 60.0,
                 out: Path | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.out = out
        self.saved_at: dict[str, float] = {}
        self.headers = {"Authorization": f"Bearer {token}"}
        self.poll = poll
        self.timeout = timeout
        self.calls = 0
        self._lock = threading.Lock()
        self._local = threading.local()

    def _http(self) -> requests.Session:
        if not hasattr(self._local, "session"):
            self._local.session = requests.Session()
        session: requests.Session = self._local.session
        return session

    def _call(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        with self._lock:
            self.calls += 1
        response = self._http().request(method, self.base_url + path, headers=self.headers, timeout=self.timeout,
                                        **kwargs)
        response.raise_for_status()
        answer: dict[str, Any] = response.json()
        return answer

    def run_one(self, n: int, deadline: float) -> str:
        """Submit job ``n`` and poll it to its result; its request id."""
        request_id = str(self._call("POST", SUBMIT_PATH, json=body(self.base_url, n))["request_id"])
        while time.monotonic() < deadline:
            time.sleep(self.poll)
            if self._call("GET", f"/v1/requests/{request_id}/status")["status"] in ("completed", "cancelled"):
                break
        result = self._call("GET", f"/v1/requests/{request_id}/result")
        if self.out is not None and result.get("status") == "succeeded":
            self._download(request_id, str(result["output"]["images"][0]))
        return request_id

    def _download(self, request_id: str, url: str) -> None:
        assert self.out is not None
        temp, final = self.out / f".{request_id}.part", self.out / f"{request_id}.out"
        with self._http().get(url, stream=True, timeout=self.timeout) as response, open(temp, "wb") as handle:
            response.raise_for_status()
            for chunk in response.iter_content(256 * 1024):
                handle.write(chunk)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, final)
        with self._lock:
            self.saved_at[request_id] = time.time()


def run_vendor(base_url: str, jobs: int, *, threads: int | None = None, timeout: float = 600.0,
               out: Path | None = None) -> VendorRun:
    """Run ``jobs`` jobs the vendor way (``threads`` at a time, default all); every thread gives up
    at ``timeout``. ``out``: download each output into this folder."""
    client = VendorClient(base_url, out=out)
    started = time.monotonic()
    deadline = started + timeout
    with ThreadPoolExecutor(max_workers=threads or jobs) as pool:
        ids = list(pool.map(lambda n: client.run_one(n, deadline), range(jobs)))
    return VendorRun(client.calls, ids, time.monotonic() - started, dict(client.saved_at))


def main() -> None:
    """Run against a simulator that is already up."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("base_url")
    parser.add_argument("--jobs", type=int, default=20)
    args = parser.parse_args()
    run = run_vendor(args.base_url, args.jobs)
    print(f"{args.jobs} jobs in {run.seconds:.1f} s, {run.calls} calls ({run.calls / args.jobs:.2f} per job)")


if __name__ == "__main__":
    main()
