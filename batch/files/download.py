"""Download an output file, verify it, and only then put it in place.

The bytes go to a temporary file while being hashed, a name unique to this attempt in a hidden
folder beside the target (``.<name>.parts``); the file must be the requested format with the
expected dimensions and read intact to its end; then one ``os.replace`` moves it into place, so
a reader never sees half a file. What a killed attempt leaves in that folder is removed by the
next attempt that succeeds, with the folder; no other directory is ever listed (a flat folder
may hold 100,000 files).

A download is bounded: a total deadline per file (``DownloadLimits``), a size cap, redirects
only to http(s) and only a few. While bytes arrive it renews the job's lease (``Renewal``), and
it stops when the lease has passed to someone else; the rename happens only if the lease is
still ours just before it. Every failure is a row of ``FAILURES``: retryable or not, and a
message a user understands.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import urljoin, urlsplit

import requests
import urllib3
from PIL import Image, UnidentifiedImageError

from batch.config import Settings
from batch.core.schema import PIL_FORMATS
from batch.errors import DownloadFailed
from batch.files.atomic import SHARED, atomic_file
from batch.upstream.http import USER_AGENT, send

CHUNK = 256 * 1024
MAX_REDIRECTS = 5
READ_TIMEOUT = 60.0  # seconds without a byte; the deadline bounds the whole file
SCHEMES = ("http", "https")


@dataclass(frozen=True)
class Rule:
    """How one kind of download failure is handled: retried or not, and what the user reads."""

    retryable: bool
    message: str  # str.format template over the facts of the failure


FAILURES: dict[str, Rule] = {
    # the file server
    "server_busy": Rule(True, "download from {host} failed: HTTP {status} (the server is busy or failing)"),
    "refused": Rule(False, "download from {host} failed: HTTP {status} (the file is missing or not readable)"),
    "network": Rule(True, "download from {host} failed: {problem}"),
    "too_slow": Rule(True, "download from {host} too slow: {got} bytes in {spent:.0f} s, past the {deadline:.0f} s "
                           "allowed per file"),
    "trickle": Rule(True, "download from {host} trickles: {got} bytes in {seconds:.0f} s, under the {rate:.0f} "
                          "bytes/s allowed; tried again later"),
    "too_large": Rule(False, "output from {host} is larger than the {limit} bytes allowed"),
    # where the URL leads
    "bad_url": Rule(False, "output URL {url!r} cannot be downloaded: {problem}"),
    "bad_scheme": Rule(False, "download refused: {which} is a {scheme}: URL, only http and https are followed"),
    "redirect_loop": Rule(False, "download from {host} refused: more than {limit} redirects"),
    # the file itself
    "not_image": Rule(False, "output is not a readable image: no known image format"),
    "damaged": Rule(False, "output is not a readable image: damaged or truncated ({detail})"),
    "wrong_format": Rule(False, "output is {found}, expected {expected}"),
    "wrong_size": Rule(False, "output is {width}x{height}, expected one of {sizes}"),
    # here
    "disk": Rule(True, "could not write output {name}: {problem}"),
    "lease_lost": Rule(True, "another worker took this job over during the download; this copy was dropped"),
}


def failure(kind: str, **facts: Any) -> DownloadFailed:
    """The error for a failure of ``kind`` (a key of ``FAILURES``) with its facts filled in."""
    rule = FAILURES[kind]
    return DownloadFailed(kind, rule.message.format(**facts), retryable=rule.retryable)


@dataclass(frozen=True)
class DownloadLimits:
    """How large and how slow one output file may be; ``deadline``: the seconds allowed for it."""

    max_bytes: int
    min_rate: float  # bytes per second
    floor_seconds: float
    read_timeout: float = READ_TIMEOUT
    stall_rate: float = 0.0  # bytes per second over each window of stall_seconds; below it the attempt stops
    stall_seconds: float = 0.0  # 0: no such check

    @property
    def deadline(self) -> float:
        """The total time allowed for one file: the floor, plus the largest file at the minimum rate."""
        return self.floor_seconds + self.max_bytes / self.min_rate

    @classmethod
    def from_settings(cls, settings: Settings) -> DownloadLimits:
        """The limits configured in ``settings``."""
        return cls(settings.download_max_bytes, settings.download_min_rate, settings.download_floor_seconds,
                   stall_rate=settings.download_stall_rate, stall_seconds=settings.download_stall_seconds)

    @property
    def wait_for_bytes(self) -> float:
        """The longest wait for the next bytes: a read blocked longer would pass a stall check by."""
        return min(self.read_timeout, self.stall_seconds) if self.stall_seconds > 0 else self.read_timeout


@dataclass(frozen=True)
class Renewal:
    """Keeps the job's lease while a download progresses: ``renew()`` (False when the lease is gone),
    called at most every ``every`` seconds, and once more just before the rename."""

    renew: Callable[[], bool]
    every: float


@dataclass(frozen=True)
class SavedFile:
    """A verified file on disk."""

    path: str
    bytes: int
    sha256: str
    width: int
    height: int
    format: str
    object_url: str | None = None  # the copy in the batch's bucket (output_dir: s3://...), once uploaded
    object_etag: str | None = None
    object_bytes: int | None = None


def download_verified(
    http: requests.Session,
    url: str,
    target: Path,
    *,
    output_format: str,
    allowed_sizes: set[tuple[int, int]],
    limits: DownloadLimits,
    renewal: Renewal | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> SavedFile:
    """Fetch ``url`` into ``target`` after checking format, size and hash; raise DownloadFailed if not.

    The bytes go to a temporary file unique to this call (two racing downloads of one job never
    write into one file) and are checked through the same open handle, read back from the start.
    ``clock`` measures the deadline and the gaps between renewals.
    """
    watch = _Watch(urlsplit(url).hostname or url, limits, clock, renewal)
    parts = target.with_name(f".{target.name}.parts")
    try:
        parts.mkdir(parents=True, exist_ok=True)
        with atomic_file(target, mode=SHARED, folder=parts) as handle:
            size, digest = _stream(http, url, handle, watch)
            handle.flush()
            handle.seek(0)
            width, height = _check_image(handle, output_format, allowed_sizes)
            if renewal is not None and not renewal.renew():
                raise failure("lease_lost")
    except OSError as exc:  # writing here (network errors are translated in _stream): disk full, no permission
        _tidy(parts, leftovers=False)
        raise failure("disk", name=target.name, problem=exc.strerror or type(exc).__name__) from None
    except BaseException:
        _tidy(parts, leftovers=False)
        raise
    _tidy(parts, leftovers=True)
    return SavedFile(str(target), size, digest, width, height, output_format)


def _tidy(parts: Path, *, leftovers: bool) -> None:
    """Remove the folder of temporary files: after a success with what killed attempts left in it
    (the lease, just renewed, is ours: their owners are gone), after a failure only if it is empty."""
    with contextlib.suppress(OSError):
        if leftovers:
            for entry in os.scandir(parts):
                os.unlink(entry.path)
        parts.rmdir()


@dataclass
class _Watch:
    """The deadline, size cap and lease renewals of one download, checked as bytes arrive."""

    host: str
    limits: DownloadLimits
    clock: Callable[[], float]
    renewal: Renewal | None
    got: int = 0
    started: float = field(init=False)
    renewed: float = field(init=False)
    window: tuple[float, int] = field(init=False)  # when the current stall window began, and the bytes then

    def __post_init__(self) -> None:
        self.started = self.renewed = self.clock()
        self.window = (self.started, 0)

    def remaining(self, now: float | None = None) -> float:
        """Seconds left before the deadline; raises ``too_slow`` once it has passed."""
        spent = (self.clock() if now is None else now) - self.started
        if spent > self.limits.deadline:
            raise failure("too_slow", host=self.host, got=self.got, spent=spent, deadline=self.limits.deadline)
        return self.limits.deadline - spent

    def arrived(self, count: int) -> None:
        """``count`` more bytes came: check the size cap and the deadline, renew the lease when due."""
        self.got += count
        if self.got > self.limits.max_bytes:
            raise failure("too_large", host=self.host, limit=self.limits.max_bytes)
        now = self.clock()
        self.remaining(now)
        self._check_stall(now)
        if self.renewal is not None and now - self.renewed >= self.renewal.every:
            self.renewed = now
            if not self.renewal.renew():
                raise failure("lease_lost")


    def _check_stall(self, now: float) -> None:
        """A file that trickles holds a worker thread: at the end of each window, stop under the rate."""
        began, had = self.window
        if self.limits.stall_seconds <= 0 or now - began < self.limits.stall_seconds:
            return
        if self.got - had < self.limits.stall_rate * (now - began):
            raise failure("trickle", host=self.host, got=self.got - had, seconds=now - began,
                          rate=self.limits.stall_rate)
        self.window = (now, self.got)


def _stream(http: requests.Session, url: str, handle: BinaryIO, watch: _Watch) -> tuple[int, str]:
    """Write the body at ``url`` into ``handle``; its size and sha256.

    Reads whatever has arrived (``read1``), not fixed-size blocks: a read of a block would wait
    for the whole block, and a host sending a byte a second would never reach a check.
    """
    digest = hashlib.sha256()
    try:
        with _open(http, url, watch) as response:
            while chunk := response.raw.read1(CHUNK, decode_content=True):
                watch.arrived(len(chunk))
                digest.update(chunk)
                handle.write(chunk)
    except (requests.RequestException, urllib3.exceptions.HTTPError) as exc:
        raise failure("network", host=watch.host, problem=_network_problem(exc)) from None
    return watch.got, digest.hexdigest()


def _open(http: requests.Session, url: str, watch: _Watch) -> requests.Response:
    """GET ``url``, following at most ``MAX_REDIRECTS`` redirects and only to http(s) URLs; the
    response when it is a 200, else the failure its status means."""
    which = "the output URL"
    for _ in range(MAX_REDIRECTS + 1):
        scheme = urlsplit(url).scheme.lower()
        if scheme not in SCHEMES:
            raise failure("bad_scheme", which=which, scheme=scheme or "scheme-less")
        host = urlsplit(url).hostname or url
        timeout = min(watch.limits.wait_for_bytes, watch.remaining())
        try:
            response = send(http, "GET", url, headers={"User-Agent": USER_AGENT}, timeout=timeout, stream=True,
                            allow_redirects=False)
        except requests.exceptions.InvalidURL as exc:
            raise failure("bad_url", url=url, problem=type(exc).__name__) from None
        if response.status_code == 200:
            return response
        response.close()
        if not response.is_redirect:
            raise _status_failure(host, response.status_code)
        url, which = urljoin(url, response.headers["location"]), f"a redirect from {host}"
    raise failure("redirect_loop", host=watch.host, limit=MAX_REDIRECTS)


def _status_failure(host: str, status: int) -> DownloadFailed:
    kind = "server_busy" if status >= 500 or status in (408, 429) else "refused"
    return failure(kind, host=host, status=status)


def _network_problem(exc: Exception) -> str:
    """What went wrong on the wire, in words (the exception's text may hold URLs and reprs)."""
    if isinstance(exc, requests.exceptions.ConnectTimeout | urllib3.exceptions.ConnectTimeoutError):
        return "no connection within the timeout"
    if isinstance(exc, requests.exceptions.Timeout | urllib3.exceptions.TimeoutError):
        return "no data within the timeout"
    if isinstance(exc, urllib3.exceptions.ProtocolError | requests.exceptions.ChunkedEncodingError):
        return "the connection broke before the file was complete"
    if isinstance(exc, requests.exceptions.ConnectionError):
        return "could not connect"
    return f"network error ({type(exc).__name__})"


def _check_image(handle: BinaryIO, output_format: str, allowed_sizes: set[tuple[int, int]]) -> tuple[int, int]:
    """Width and height of the image in ``handle`` if it is the expected format and size and intact.

    Any exception of the decoder is a damaged file: the input is whatever the server sent, and
    Pillow answers malformed data with OSError, SyntaxError, ValueError, struct.error and more.
    """
    mismatch: DownloadFailed | None = None
    try:
        with Image.open(handle) as image:
            size = image.size
            mismatch = _mismatch(image.format, size, output_format, allowed_sizes)
            if mismatch is None:
                _check_intact(image)
    except UnidentifiedImageError:
        raise failure("not_image") from None
    except Exception as exc:  # the decoder's own errors, whatever their class (see above)
        raise failure("damaged", detail=_decoder_detail(exc, handle)) from None
    if mismatch is not None:
        raise mismatch
    return size


def _mismatch(found: str | None, size: tuple[int, int], output_format: str,
              allowed_sizes: set[tuple[int, int]]) -> DownloadFailed | None:
    expected = PIL_FORMATS[output_format]
    if found != expected:
        return failure("wrong_format", found=found, expected=expected)
    if allowed_sizes and size not in allowed_sizes:
        return failure("wrong_size", width=size[0], height=size[1], sizes=sorted(allowed_sizes))
    return None


def _decoder_detail(exc: Exception, handle: BinaryIO) -> str:
    """The decoder's words without the temporary file (its repr), which means nothing to a user."""
    text = str(exc).replace(repr(handle), "").split("<", 1)[0].strip().rstrip(":") or type(exc).__name__
    return text[:120]


def _check_intact(image: Image.Image) -> None:
    """Decode the whole file, which catches truncation and corruption anywhere in it.

    A JPEG is decoded at 1/8 scale and in grey: every entropy-coded block of every component is
    still decoded (the scan cannot be read otherwise), only the full-size inverse DCT and the
    colour conversion are skipped (0.34 ms for a 1K output here, against 1.3 ms in full and
    0.49 ms at 1/8 in colour). Other formats are decoded in full.
    """
    if image.format == "JPEG":
        image.draft("L", (max(1, image.size[0] // 8), max(1, image.size[1] // 8)))
    image.load()
