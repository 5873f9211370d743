"""Download an output file, verify it, and only then put it in place.

The bytes go to a temporary file beside the target while being hashed; the file must be the
requested format with the expected dimensions and read intact to its end; then one
``os.replace`` moves it into place, so a reader never sees half a file and a crash leaves at
most a stray ``.part`` file.
"""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import requests
from PIL import Image, UnidentifiedImageError

from batch.core.schema import PIL_FORMATS
from batch.errors import DownloadError
from batch.files.atomic import atomic_file
from batch.upstream.http import USER_AGENT, send

CHUNK = 256 * 1024
MAX_OUTPUT_BYTES = 200 * 1024 * 1024


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
    writer: str,
    timeout: float = 60.0,
) -> SavedFile:
    """Fetch ``url`` into ``target`` after checking format, size and hash; raise DownloadError if not.

    The bytes go to ``.<name>.<writer>.part`` first and are checked through the same open
    handle, read back from the start. ``writer`` names who downloads (the job):
    a job retried after its worker was killed mid-download writes over its own leftover, so
    nothing is left behind and no directory is listed (a flat folder may hold 100,000 files).
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    with atomic_file(target, tag=writer) as handle:
        size, digest = _stream(http, url, handle, timeout)
        handle.flush()
        handle.seek(0)
        width, height = _check_image(handle, output_format, allowed_sizes)
    return SavedFile(str(target), size, digest, width, height, output_format)


def _stream(http: requests.Session, url: str, handle: BinaryIO, timeout: float) -> tuple[int, str]:
    digest = hashlib.sha256()
    size = 0
    try:
        with send(http, "GET", url, headers={"User-Agent": USER_AGENT}, timeout=timeout, stream=True) as response:
            if response.status_code != 200:
                raise DownloadError(
                    f"download of output failed: HTTP {response.status_code}",
                    retryable=response.status_code >= 500 or response.status_code == 429,
                )
            for chunk in response.iter_content(CHUNK):
                size += len(chunk)
                if size > MAX_OUTPUT_BYTES:
                    raise DownloadError(f"output larger than {MAX_OUTPUT_BYTES} bytes")
                digest.update(chunk)
                handle.write(chunk)
    except requests.RequestException as exc:
        raise DownloadError(f"download of output failed: {type(exc).__name__}", retryable=True) from None
    return size, digest.hexdigest()


def _check_image(handle: BinaryIO, output_format: str, allowed_sizes: set[tuple[int, int]]) -> tuple[int, int]:
    try:
        with Image.open(handle) as image:
            found, size = image.format, image.size
            expected = PIL_FORMATS[output_format]
            if found != expected:
                raise DownloadError(f"output is {found}, expected {expected}")
            if allowed_sizes and size not in allowed_sizes:
                raise DownloadError(f"output is {size[0]}x{size[1]}, expected one of {sorted(allowed_sizes)}")
            _check_intact(image)
    except (UnidentifiedImageError, OSError, SyntaxError, EOFError, struct.error,
            Image.DecompressionBombError) as exc:
        raise DownloadError(f"output is not a readable image: {exc}") from None
    return size


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
