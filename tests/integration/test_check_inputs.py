"""--check-inputs: an image replaced at the same URL changes the fingerprint, so it is edited again."""

from __future__ import annotations

import functools
import http.server
import os
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from batch.core.fingerprint import fingerprint
from batch.upstream.inputs import check_input_urls, input_validators


@pytest.fixture
def files(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield tmp_path, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()


def test_replaced_image_gets_a_new_fingerprint(files: tuple[Path, str]) -> None:
    folder, base = files
    image = folder / "shoe.png"
    image.write_bytes(b"first version")
    url = f"{base}/shoe.png"
    inputs = {"prompt": "p", "image_urls": [url], "aspect_ratio": "1:1", "resolution": "1K", "output_format": "png"}
    http = requests.Session()
    before = fingerprint(inputs, input_validators(http, {url}))
    assert before == fingerprint(inputs, input_validators(http, {url}))  # unchanged file: same job
    image.write_bytes(b"second, longer version")
    os.utime(image, (1_000_000_000, 1_000_000_000))
    after = fingerprint(inputs, input_validators(http, {url}))
    assert after != before
    assert fingerprint(inputs) == fingerprint(inputs, None)  # without the option, the URL alone counts


def test_unreachable_input_does_not_break_the_check() -> None:
    assert input_validators(requests.Session(), {"http://127.0.0.1:1/x.png"}, timeout=2) == {
        "http://127.0.0.1:1/x.png": ""}


def test_a_missing_or_unreachable_input_is_a_problem_named_with_its_status(files: tuple[Path, str]) -> None:
    folder, base = files
    (folder / "here.png").write_bytes(b"an image")
    here, gone, down = f"{base}/here.png", f"{base}/gone.png", "http://127.0.0.1:1/x.png"
    checked = check_input_urls(requests.Session(), {here, gone, down}, timeout=2)
    assert checked.problems == {gone: "answered HTTP 404", down: "unreachable (ConnectionError)"}
    assert checked.validators[here]
