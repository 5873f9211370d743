"""Real outputs (dimensions, formats, derivation from inputs) and server-side input fetching."""

from __future__ import annotations

import io
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

import pytest
import requests
from PIL import Image, ImageStat

from batch.core.schema import OUTPUT_DIMENSIONS, PIL_FORMATS, nearest_ratio, output_size
from batch.simulator import SimulatorConfig, SimulatorHandle, running_simulator
from batch.simulator.testing import SimClient

SAMPLE_SIZES = {"shoe.png": (1200, 800), "mug.png": (1000, 1000), "lamp.png": (800, 1200),
                "chair.png": (900, 1200), "watch.png": (1000, 1000), "bag.png": (1200, 900)}


@pytest.fixture(scope="module")
def sim() -> Iterator[SimulatorHandle]:
    with running_simulator(SimulatorConfig(latency=(0, 0), workers=4)) as handle:
        yield handle


def _image(client: SimClient, result: dict[str, Any]) -> Image.Image:
    assert result["status"] == "succeeded", result
    [url] = result["output"]["images"]
    response = client.download(url)
    assert response.status_code == 200
    return Image.open(io.BytesIO(response.content))


def _run_all(client: SimClient, bodies: list[dict[str, Any]]) -> list[dict[str, Any]]:
    ids = [client.submit_ok(b) for b in bodies]
    for rid in ids:
        client.wait_status(rid, timeout=30)
    return [client.result(rid, include_cost=True).json() for rid in ids]


def test_samples_are_pngs_of_the_documented_sizes(client: SimClient) -> None:
    for name, size in SAMPLE_SIZES.items():
        picture = Image.open(io.BytesIO(client.download(client.sample_url(name)).content))
        assert (picture.format, picture.size) == ("PNG", size)


def test_every_ratio_at_1k_has_exact_dimensions(client: SimClient) -> None:
    ratios = ["auto", *OUTPUT_DIMENSIONS]
    results = _run_all(client, [client.body(aspect_ratio=r, resolution="1K") for r in ratios])
    for ratio, result in zip(ratios, results, strict=True):
        picture = _image(client, result)
        assert picture.size == output_size(ratio, "1K", SAMPLE_SIZES["shoe.png"]), ratio
        assert picture.format == "PNG"


def test_auto_follows_first_input_ratio(client: SimClient) -> None:
    names = list(SAMPLE_SIZES)
    results = _run_all(client, [client.body(image=n) for n in names])
    for name, result in zip(names, results, strict=True):
        expected = OUTPUT_DIMENSIONS[nearest_ratio(*SAMPLE_SIZES[name])]["1K"]
        assert _image(client, result).size == expected, name


@pytest.mark.parametrize(("ratio", "resolution"), [("16:9", "2K"), ("9:16", "2K"), ("21:9", "4K"),
                                                   ("1:1", "4K")])
def test_2k_and_4k_dimensions_and_price(client: SimClient, ratio: str, resolution: str) -> None:
    [result] = _run_all(client, [client.body(aspect_ratio=ratio, resolution=resolution,
                                             output_format="jpeg")])
    assert _image(client, result).size == OUTPUT_DIMENSIONS[ratio][resolution]
    assert result["cost"] == pytest.approx(0.30 if resolution == "4K" else 0.15)


@pytest.mark.parametrize("output_format", ["jpeg", "png", "webp"])
def test_each_output_format(client: SimClient, output_format: str) -> None:
    [result] = _run_all(client, [client.body(output_format=output_format, aspect_ratio="4:5")])
    picture = _image(client, result)
    assert picture.format == PIL_FORMATS[output_format]
    assert picture.size == OUTPUT_DIMENSIONS["4:5"]["1K"]
    ext = {"jpeg": "jpg", "png": "png", "webp": "webp"}[output_format]
    assert result["output"]["images"][0].endswith(f"/0.{ext}")


def _mean(picture: Image.Image) -> list[float]:
    return [round(v, 1) for v in ImageStat.Stat(picture.convert("RGB")).mean]


def test_output_derives_from_first_input_and_prompt(client: SimClient) -> None:
    bodies = [client.body(prompt="sunset"), client.body(prompt="sunset"),
              client.body(prompt="snowy mountain"), client.body(prompt="sunset", image="mug.png")]
    a, same, other_prompt, other_image = (_image(client, r) for r in _run_all(client, bodies))
    assert _mean(a) == _mean(same)
    assert _mean(a) != _mean(other_prompt)
    assert _mean(a) != _mean(other_image)
    histogram = a.convert("L").crop((0, a.height - 60, 300, a.height)).histogram()
    assert sum(histogram[:30]) > 1000 and sum(histogram[200:]) > 100  # dark band, white lettering


def _failed(client: SimClient, urls: list[str]) -> str:
    result = client.run({"prompt": "p", "image_urls": urls}, timeout=20)
    assert result["status"] == "failed", result
    assert "output" not in result and result["cost"] == 0
    assert client.status(result["request_id"]).json()["status"] == "completed"
    error: str = result["error"]
    return error


def test_unreachable_input_fails_the_job_with_message(client: SimClient) -> None:
    error = _failed(client, ["http://127.0.0.1:1/x.png"])
    assert "image_urls.0" in error and "could not fetch" in error


def test_non_image_input_fails_the_job(client: SimClient) -> None:
    assert "not a decodable image" in _failed(client, [client.sample_url("not-an-image.txt")])


def test_http_error_and_later_bad_input_are_named(client: SimClient) -> None:
    assert "HTTP 404" in _failed(client, [client.sample_url("sofa.png")])
    error = _failed(client, [client.sample_url(), client.sample_url("not-an-image.txt")])
    assert error.startswith("image_urls.1")


class _Recorder(BaseHTTPRequestHandler):
    hits: ClassVar[list[tuple[str, float]]] = []
    png: ClassVar[bytes] = b""

    def do_GET(self) -> None:
        type(self).hits.append((self.path, time.time()))
        if self.path == "/huge.png":  # claims 60 MB, sends little
            self.send_response(200)
            self.send_header("Content-Length", str(60 * 1024 * 1024))
            self.end_headers()
            self.wfile.write(b"x" * 1000)
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(self.png)))
        self.end_headers()
        self.wfile.write(self.png)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def origin(sim: SimulatorHandle) -> Iterator[str]:
    _Recorder.png = requests.get(f"{sim.base_url}/samples/watch.png", timeout=10).content
    _Recorder.hits = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_inputs_are_fetched_when_the_job_starts(origin: str) -> None:
    with running_simulator(SimulatorConfig(workers=1, latency=(0.3, 0.3))) as sim:
        c = SimClient(sim.base_url)
        first = c.submit_ok({"prompt": "a", "image_urls": [f"{origin}/first.png"]})
        second = c.submit_ok({"prompt": "b", "image_urls": [f"{origin}/second.png", f"{origin}/third.png"]})
        time.sleep(0.1)
        assert [p for p, _ in _Recorder.hits] == ["/first.png"]  # queued job not fetched yet
        c.wait_status(second, timeout=5)
        jobs = {j["request_id"]: j for j in sim.jobs()}
        assert sorted(p for p, _ in _Recorder.hits) == ["/first.png", "/second.png", "/third.png"]
        for path, at in _Recorder.hits[1:]:
            assert jobs[second]["started_at"] <= at <= jobs[second]["finished_at"], path
        assert jobs[first]["finished_at"] <= jobs[second]["started_at"]
        c.close()


def test_input_over_50_mb_fails(client: SimClient, origin: str) -> None:
    assert "larger than" in _failed(client, [f"{origin}/huge.png"])
