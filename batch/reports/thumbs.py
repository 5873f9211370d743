"""Small JPEG thumbnails as base64 data URIs, for the self-contained HTML report.

Inputs are fetched once per distinct URL (short timeout, size cap) and outputs read from disk, only
while they are the recorded files; both are downscaled with Pillow. Anything that fails (network,
missing file, not an image) yields None so that the report shows a placeholder instead of crashing.
"""

from __future__ import annotations

import base64
import io
import threading
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import requests
from PIL import Image, ImageOps

from batch.files.recorded import read_recorded

THUMB_PX = 256
JPEG_QUALITY = 80
FETCH_TIMEOUT = 5.0
MAX_FETCH_BYTES = 50 * 1024 * 1024
WORKERS = 8
# Decoding is what costs memory (3-4 bytes a pixel): a 4K output (16.8 M pixels) is within the cap,
# a 13,000 x 13,000 PNG (169 M) is not; a JPEG's pixels count after its reduced decode.
MAX_DECODE_PIXELS = 40_000_000
REDUCING_GAP = 2  # decode (JPEG) and first downscale to no less than twice the thumbnail, then resample
THUMB_SLOTS = 2  # thumbnails decoded at once in a process (a web request or a report's workers)
DECODING = threading.BoundedSemaphore(THUMB_SLOTS)  # held while a thumbnail is decoded

Fetch = Callable[[str], bytes | None]


@dataclass(frozen=True)
class Thumb:
    """A thumbnail: its ``data:`` URI and its own pixel size."""

    uri: str
    width: int
    height: int


def _flatten(img: Image.Image) -> Image.Image:
    """RGB for JPEG: transparency laid on white."""
    if img.mode in ("RGBA", "LA", "P", "PA"):
        rgba = img.convert("RGBA")
        flat = Image.new("RGB", rgba.size, (255, 255, 255))
        flat.paste(rgba, mask=rgba.getchannel("A"))
        return flat
    return img if img.mode == "RGB" else img.convert("RGB")


def make_thumb(data: bytes, size: int = THUMB_PX) -> Thumb | None:
    """Downscale image bytes to fit ``size`` x ``size`` as a JPEG data URI; None if not an image, or
    if making it would decode more than ``MAX_DECODE_PIXELS``.

    A JPEG is decoded reduced (draft mode: 1/2 to 1/8 of each side, as small as still covers
    ``REDUCING_GAP`` times the thumbnail), so a 13,000 x 13,000 photo costs tens of MB, not over a
    GB; the size is checked before any pixel is decoded; at most ``THUMB_SLOTS`` are made at once
    in a process. The EXIF orientation is applied to the small image, not the full one.
    """
    with DECODING:
        try:
            with Image.open(io.BytesIO(data)) as opened:
                opened.draft(None, (size * REDUCING_GAP, size * REDUCING_GAP))  # JPEG only; others unchanged
                if opened.width * opened.height > MAX_DECODE_PIXELS:
                    return None
                opened.thumbnail((size, size), reducing_gap=REDUCING_GAP)
                small = _flatten(ImageOps.exif_transpose(opened))
                buf = io.BytesIO()
                small.save(buf, "JPEG", quality=JPEG_QUALITY, optimize=True)
                width, height = small.size
        except (OSError, ValueError, SyntaxError, Image.DecompressionBombError):
            return None
    return Thumb("data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode("ascii"), width, height)


_local = threading.local()
SIGNED_SECONDS = 300  # a report reads each input once, right away


def _session() -> requests.Session:
    session: requests.Session | None = getattr(_local, "session", None)
    if session is None:
        session = requests.Session()
        _local.session = session
    return session


def fetch_url(url: str, timeout: float = FETCH_TIMEOUT, storage: Mapping[str, Any] | None = None) -> bytes | None:
    """GET ``url`` (http(s), or a bucket reference signed for the purpose) within ``timeout`` seconds;
    None on any failure or oversize. ``storage``: the batch's storage settings, for its bucket's endpoint."""
    if not url.startswith(("http://", "https://")):
        signed = _signed(url, storage)
        if signed is None:
            return None
        url = signed
    try:
        with _session().get(url, timeout=timeout, stream=True) as resp:
            if resp.status_code != 200:
                return None
            chunks: list[bytes] = []
            total = 0
            for chunk in resp.iter_content(256 * 1024):
                total += len(chunk)
                if total > MAX_FETCH_BYTES:
                    return None
                chunks.append(chunk)
    except requests.RequestException:
        return None
    return b"".join(chunks)


def _signed(reference: str, storage: Mapping[str, Any] | None) -> str | None:
    """A short-lived GET URL for a bucket reference (endpoint from the batch's settings, else the environment)."""
    from batch.storage.refs import parse_ref

    ref = parse_ref(reference)
    if ref is None or not ref.key:
        return None
    from batch.errors import StorageError
    from batch.storage.signing import bucket_for

    try:
        return bucket_for(ref.scheme, ref.bucket, storage).sign_get(ref.key, SIGNED_SECONDS)
    except StorageError:
        return None


def thumbnails(urls: Iterable[str], outputs: Iterable[tuple[str, int, str]], *, fetch: Fetch = fetch_url,
               workers: int = WORKERS) -> tuple[dict[str, Thumb | None], dict[str, Thumb | None]]:
    """Thumbnails of each distinct input URL and recorded output (path, bytes, sha256): ``(by_url, by_path)``.

    An output is read only while it is the recorded file (``batch.files.recorded``): a link or a
    file changed since gets no thumbnail."""
    unique_urls = list(dict.fromkeys(urls))
    unique_outputs = list(dict.fromkeys(outputs))

    def from_url(url: str) -> Thumb | None:
        data = fetch(url)
        return make_thumb(data) if data else None

    def from_path(output: tuple[str, int, str]) -> Thumb | None:
        data = read_recorded(*output)
        return make_thumb(data) if data else None

    with ThreadPoolExecutor(max_workers=max(workers, 1)) as pool:
        by_url = dict(zip(unique_urls, pool.map(from_url, unique_urls), strict=True))
        by_path = {path: thumb for (path, _, _), thumb in
                   zip(unique_outputs, pool.map(from_path, unique_outputs), strict=True)}
    return by_url, by_path
