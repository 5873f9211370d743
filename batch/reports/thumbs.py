"""Small JPEG thumbnails as base64 data URIs, for the self-contained HTML report.

Inputs are fetched once per distinct URL (short timeout, size cap) and outputs read from disk;
both are downscaled with Pillow. Anything that fails (network, missing file, not an image)
yields None so that the report shows a placeholder instead of crashing.
"""

from __future__ import annotations

import base64
import io
import threading
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests
from PIL import Image, ImageOps

THUMB_PX = 256
JPEG_QUALITY = 80
FETCH_TIMEOUT = 5.0
MAX_FETCH_BYTES = 50 * 1024 * 1024
WORKERS = 8

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
    """Downscale image bytes to fit ``size`` x ``size`` as a JPEG data URI; None if not an image."""
    try:
        with Image.open(io.BytesIO(data)) as opened:
            small = ImageOps.exif_transpose(opened)
            small.thumbnail((size, size))
            small = _flatten(small)
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


def read_path(path: str) -> bytes | None:
    """The file's bytes, or None when it cannot be read."""
    try:
        return Path(path).read_bytes()
    except OSError:
        return None


def thumbnails(urls: Iterable[str], paths: Iterable[str], *, fetch: Fetch = fetch_url,
               workers: int = WORKERS) -> tuple[dict[str, Thumb | None], dict[str, Thumb | None]]:
    """Thumbnails of each distinct input URL and output path: ``(by_url, by_path)``."""
    unique_urls = list(dict.fromkeys(urls))
    unique_paths = list(dict.fromkeys(paths))

    def from_url(url: str) -> Thumb | None:
        data = fetch(url)
        return make_thumb(data) if data else None

    def from_path(path: str) -> Thumb | None:
        data = read_path(path)
        return make_thumb(data) if data else None

    with ThreadPoolExecutor(max_workers=max(workers, 1)) as pool:
        by_url = dict(zip(unique_urls, pool.map(from_url, unique_urls), strict=True))
        by_path = dict(zip(unique_paths, pool.map(from_path, unique_paths), strict=True))
    return by_url, by_path
