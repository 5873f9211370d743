"""Downloads against a misbehaving file server: every row of the failure table, the deadline, the lease.

A real HTTP server on 127.0.0.1 serves the bad cases (a host that trickles a byte at a time, a
redirect to ``file://``, a PNG with a malformed chunk...). Time is an injected clock, never a sleep.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import io
import itertools
import random
import re
import resource
import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from PIL import Image
from sqlalchemy import select

from batch.core.schema import OUTPUT_DIMENSIONS
from batch.core.states import JobState
from batch.errors import DownloadFailed
from batch.files.download import FAILURES, DownloadLimits, Renewal, download_verified
from batch.store import jobs as store
from batch.store.db import transaction
from batch.store.models import Output
from tests.unit.test_steps import OWNER, make_world

SIZE = (64, 48)
LIMITS = DownloadLimits(max_bytes=100_000, min_rate=20_000.0, floor_seconds=5.0)  # deadline: 10 s
TRICKLE_BYTES = 50_000  # at a byte per read, far more than the deadline lets through


def image(fmt: str, size: tuple[int, int] = SIZE, colour: tuple[int, int, int] | None = None) -> bytes:
    buffer = io.BytesIO()
    picture = Image.new("RGB", size, colour) if colour else Image.linear_gradient("L").convert("RGB").resize(size)
    picture.save(buffer, fmt)
    return buffer.getvalue()


def noise_png(size: tuple[int, int]) -> bytes:
    """A PNG that does not compress: about 3 bytes a pixel."""
    buffer = io.BytesIO()
    Image.frombytes("RGB", size, random.Random(7).randbytes(size[0] * size[1] * 3)).save(buffer, "PNG")
    return buffer.getvalue()


def png_with_a_short_ihdr() -> bytes:
    body = bytearray(image("PNG"))
    at = body.index(b"IHDR") - 4  # the chunk's length field
    body[at:at + 4] = (5).to_bytes(4, "big")  # Pillow: "Truncated IHDR chunk", a ValueError
    return bytes(body)


@dataclass
class Race:
    """The first request for /race.png stops half-way until ``release`` is set."""

    bodies: list[bytes] = field(default_factory=list)
    served: int = 0
    half_sent: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)


class Files(BaseHTTPRequestHandler):
    """The file server: each path is one behaviour."""

    race: Race
    bodies: ClassVar[dict[str, tuple[str, bytes]]] = {
        "/good.png": ("image/png", image("PNG")),
        "/bad-ihdr.png": ("image/png", png_with_a_short_ihdr()),
        "/truncated.jpeg": ("image/jpeg", image("JPEG")[:-400]),
        "/text.png": ("text/plain", b"not an image at all\n" * 20),
        "/gradient.jpeg": ("image/jpeg", image("JPEG")),
        "/small.png": ("image/png", image("PNG", (32, 32))),
        "/big.png": ("image/png", b"\x89PNG" + bytes(LIMITS.max_bytes + 10)),
        "/noise.png": ("image/png", noise_png((128, 128))),
    }

    def log_message(self, format: str, *args: object) -> None:
        """Quiet."""

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):  # the client gave up, as it should
            self._answer(parts.path, query)

    def _answer(self, path: str, query: dict[str, str]) -> None:
        if path in self.bodies:
            kind, body = self.bodies[path]
            self._send(200, body, {"Content-Type": kind})
        elif path == "/status":
            self._send(int(query["code"]), b"no")
        elif path == "/redirect":
            self._send(302, b"", {"Location": query["to"]})
        elif path == "/loop":
            self._send(302, b"", {"Location": "/loop"})
        elif path == "/trickle.png":
            self._trickle()
        elif path == "/cut.png":
            self._head(200, {"Content-Length": "10000"})
            self.wfile.write(image("PNG")[:100])
            self.close_connection = True
        elif path == "/race.png":
            self._race()

    def _head(self, status: int, headers: dict[str, str]) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()

    def _send(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        self._head(status, {"Content-Length": str(len(body)), **(headers or {})})
        self.wfile.write(body)

    def _trickle(self) -> None:
        self._head(200, {"Content-Length": str(TRICKLE_BYTES)})
        for _ in range(TRICKLE_BYTES):
            self.wfile.write(b"\0")
            self.wfile.flush()
            threading.Event().wait(0.002)  # the server's pace; the test's time is its injected clock

    def _race(self) -> None:
        race = self.race
        body = race.bodies[min(race.served, len(race.bodies) - 1)]
        first, race.served = race.served == 0, race.served + 1
        self._head(200, {"Content-Length": str(len(body))})
        if not first:
            self.wfile.write(body)
            return
        self.wfile.write(body[: len(body) // 2])
        self.wfile.flush()
        race.half_sent.set()
        race.release.wait(10)
        self.wfile.write(body[len(body) // 2:])


@dataclass
class Server:
    url: str
    race: Race


@pytest.fixture(scope="module")
def running() -> Iterator[tuple[str, type[Files]]]:
    handler = type("Handler", (Files,), {"race": Race()})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", handler
    finally:
        httpd.shutdown()
        httpd.server_close()


@pytest.fixture
def server(running: tuple[str, type[Files]]) -> Iterator[Server]:
    url, handler = running
    handler.race = Race()
    yield Server(url, handler.race)
    handler.race.release.set()


class Ticking:
    """A clock that moves ``step`` seconds on at every reading."""

    def __init__(self, step: float = 1.0) -> None:
        self.now = 0.0
        self.step = step

    def __call__(self) -> float:
        self.now += self.step
        return self.now


def get(url: str, target: Path, *, fmt: str = "png", renewal: Renewal | None = None,
        clock: Callable[[], float] | None = None) -> Path:
    extra = {"clock": clock} if clock else {}
    download_verified(requests.Session(), url, target, output_format=fmt, allowed_sizes={SIZE}, limits=LIMITS,
                      renewal=renewal, **extra)
    return target


def refused_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])  # closed again: nothing listens there


# (kind, path on the server or a full URL, output format, what the message must say)
CASES = [
    ("server_busy", "/status?code=503", "png", "HTTP 503"),
    ("server_busy", "/status?code=429", "png", "HTTP 429"),
    ("refused", "/status?code=404", "png", "HTTP 404"),
    ("refused", "/status?code=403", "png", "HTTP 403"),
    ("network", "/cut.png", "png", "the connection broke before the file was complete"),
    ("network", "http://127.0.0.1:{port}/x.png", "png", "could not connect"),
    ("too_large", "/big.png", "png", f"larger than the {LIMITS.max_bytes} bytes allowed"),
    ("bad_url", "http:///x.png", "png", "cannot be downloaded"),
    ("bad_scheme", "ftp://127.0.0.1/x.png", "png", "the output URL is a ftp: URL"),
    ("bad_scheme", "/redirect?to=file:///etc/passwd", "png", "a redirect from 127.0.0.1 is a file: URL"),
    ("bad_scheme", "/redirect?to=ftp://127.0.0.1/x.png", "png", "is a ftp: URL"),
    ("redirect_loop", "/loop", "png", "more than 5 redirects"),
    ("not_image", "/text.png", "png", "no known image format"),
    ("damaged", "/bad-ihdr.png", "png", "damaged or truncated (Truncated IHDR chunk)"),
    ("damaged", "/truncated.jpeg", "jpeg", "damaged or truncated"),
    ("wrong_format", "/gradient.jpeg", "png", "output is JPEG, expected PNG"),
    ("wrong_size", "/small.png", "png", "output is 32x32, expected one of [(64, 48)]"),
]


@pytest.mark.parametrize(("kind", "where", "fmt", "says"), CASES, ids=[f"{c[0]}:{c[1]}" for c in CASES])
def test_each_failure_is_classified_and_worded_for_a_user(server: Server, tmp_path: Path, kind: str, where: str,
                                                          fmt: str, says: str) -> None:
    url = server.url + where if where.startswith("/") else where.format(port=refused_port())
    with pytest.raises(DownloadFailed) as caught:
        get(url, tmp_path / "out" / f"file.{fmt}", fmt=fmt)
    error = caught.value
    assert (error.kind, error.retryable) == (kind, FAILURES[kind].retryable)
    assert says in str(error)
    assert ".part" not in str(error) and str(tmp_path) not in str(error) and "<_io" not in str(error)
    assert list((tmp_path / "out").glob("*")) == []


def test_a_decoder_error_fails_the_job_at_once_instead_of_eight_retries(server: Server, tmp_path: Path) -> None:
    world = make_world(tmp_path)
    world.add_job(JobState.DOWNLOADING, request_id="req-1", result_urls=[f"{server.url}/bad-ihdr.png"])
    world.step()
    job = world.job()
    assert (job.state, job.attempts) == ("failed", 0)
    assert (job.error or "").startswith("output is not a readable image: damaged or truncated (Truncated IHDR chunk)"
                                        " (the result is paid and kept: nanobatch retry")  # how to get it again


def test_a_redirect_to_http_is_followed(server: Server, tmp_path: Path) -> None:
    target = get(f"{server.url}/redirect?to=/redirect%3Fto%3D{server.url}/good.png", tmp_path / "file.png")
    assert target.read_bytes() == Files.bodies["/good.png"][1]


@pytest.mark.timeout(20)  # a read of a whole block would wait for every byte: minutes
def test_a_host_sending_a_byte_at_a_time_fails_at_the_deadline(server: Server, tmp_path: Path) -> None:
    with pytest.raises(DownloadFailed) as caught:
        get(f"{server.url}/trickle.png", tmp_path / "file.png", clock=Ticking())
    error = caught.value
    assert (error.kind, error.retryable) == ("too_slow", True)
    spent = LIMITS.deadline + 1  # the first reading of the clock past the deadline
    assert re.fullmatch(rf"download from 127\.0\.0\.1 too slow: \d+ bytes in {spent:.0f} s, "
                        rf"past the {LIMITS.deadline:.0f} s allowed per file", str(error)), str(error)
    assert list(tmp_path.glob("*.part")) == [] and not (tmp_path / "file.png").exists()


@pytest.mark.timeout(20)
def test_a_host_that_trickles_is_left_at_the_end_of_a_window_well_before_the_deadline(server: Server,
                                                                                       tmp_path: Path) -> None:
    """A trickling file used to hold its worker thread until the deadline (minutes with real limits)."""
    limits = dataclasses.replace(LIMITS, stall_rate=1000.0, stall_seconds=3.0)
    with pytest.raises(DownloadFailed) as caught:
        download_verified(requests.Session(), f"{server.url}/trickle.png", tmp_path / "file.png",
                          output_format="png", allowed_sizes={SIZE}, limits=limits, clock=Ticking())
    error = caught.value
    assert (error.kind, error.retryable) == ("trickle", True)
    assert re.fullmatch(r"download from 127\.0\.0\.1 trickles: \d+ bytes in 3 s, under the 1000 bytes/s allowed; "
                        r"tried again later", str(error)), str(error)
    assert list(tmp_path.glob("*")) == []
    assert limits.wait_for_bytes == 3.0 < LIMITS.wait_for_bytes  # no read waits past a window


@pytest.mark.timeout(20)
def test_a_download_renews_the_lease_as_bytes_arrive_and_stops_when_it_is_gone(server: Server,
                                                                                tmp_path: Path) -> None:
    answers = iter([True, True, False])
    renewals: list[float] = []
    clock = Ticking(0.25)

    def renew() -> bool:
        renewals.append(clock.now)
        return next(answers)

    with pytest.raises(DownloadFailed, match="another worker took this job over") as caught:
        get(f"{server.url}/trickle.png", tmp_path / "file.png", renewal=Renewal(renew, every=3.0), clock=clock)
    assert caught.value.kind == "lease_lost"
    assert len(renewals) == 3 and all(b - a >= 3.0 for a, b in itertools.pairwise(renewals))
    assert list(tmp_path.glob("*")) == []


def test_a_full_disk_is_a_transient_failure_that_names_the_file(server: Server, tmp_path: Path) -> None:
    limit = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (1000, limit[1]))  # Python ignores SIGXFSZ: writes fail EFBIG
    try:
        with pytest.raises(DownloadFailed) as caught:
            download_verified(requests.Session(), f"{server.url}/noise.png", tmp_path / "file.png",
                              output_format="png", allowed_sizes={(128, 128)}, limits=LIMITS)
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, limit)
    assert (caught.value.kind, caught.value.retryable) == ("disk", True)
    assert str(caught.value) == "could not write output file.png: File too large"
    assert list(tmp_path.glob("*")) == []


def test_every_row_of_the_failure_table_is_tested() -> None:
    tested = {kind for kind, *_ in CASES} | {"too_slow", "trickle", "lease_lost", "disk"}
    assert tested == set(FAILURES)


def test_two_racing_downloads_of_one_job_leave_the_file_that_was_recorded(server: Server, tmp_path: Path) -> None:
    """A's lease expires while its host is slow; B takes the job over and finishes first; then A's
    bytes come. The file on disk must be the one whose sha256 B recorded."""
    size = OUTPUT_DIMENSIONS["1:1"]["1K"]
    server.race.bodies = [image("PNG", size, (200, 30, 30)), image("PNG", size, (30, 30, 200))]
    world = make_world(tmp_path)
    world.add_job(JobState.DOWNLOADING, request_id="req-1", result_urls=[f"{server.url}/race.png"])
    first = threading.Thread(target=world.step)  # worker A, the lease holder
    first.start()
    assert server.race.half_sent.wait(10)
    world.clock.advance(120)  # A's lease runs out; worker B claims the job
    world.take_lease("worker-2")
    world.step("worker-2")
    assert world.job().state == "succeeded"
    server.race.release.set()
    first.join(10)
    assert not first.is_alive()
    job = world.job()
    with world.rt.sessions() as session:
        [output] = session.scalars(select(Output).where(Output.job_id == job.id)).all()
    on_disk = Path(output.path).read_bytes()
    assert (job.state, job.attempts) == ("succeeded", 0)
    assert hashlib.sha256(on_disk).hexdigest() == output.sha256
    assert on_disk == server.race.bodies[1]
    assert sorted(p.name for p in Path(output.path).parent.iterdir()) == [Path(output.path).name]


def test_renew_lease_extends_only_the_holders_lease(tmp_path: Path) -> None:
    world = make_world(tmp_path)
    job_id = world.add_job(JobState.DOWNLOADING)
    with transaction(world.rt.sessions) as session:
        assert store.renew_lease(session, job_id, OWNER, world.clock() + 500)
        assert not store.renew_lease(session, job_id, "worker-2", world.clock() + 900)
    assert world.job().lease_until == world.clock() + 500
