"""Thumbnails made once and kept on disk under the home (``thumbs/``), named by what they show.

An output's thumbnail is named by the file's sha256 (its content), an input's by the hash of its
URL: a file seen again, in any batch, costs nothing. Written atomically, so two requests racing
for the same thumbnail both end with a whole file.
"""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path

from batch.files.atomic import atomic_file
from batch.reports.thumbs import Fetch, fetch_url, make_thumb, read_path

SIZES: dict[str, int] = {"sm": 192, "lg": 1024, "full": 8192}  # full: the viewer's input, at its own size


class ThumbCache:
    """JPEG thumbnails under ``root``, made on first request."""

    def __init__(self, root: Path, fetch: Fetch = fetch_url) -> None:
        self.root = root
        self.fetch = fetch

    def _path(self, kind: str, name: str, size: str) -> Path:
        return self.root / kind / name[:2] / f"{name}-{SIZES[size]}.jpg"

    def _make(self, target: Path, data: bytes | None, size: str) -> Path | None:
        thumb = make_thumb(data, SIZES[size]) if data else None
        if thumb is None:
            return None
        target.parent.mkdir(parents=True, exist_ok=True)
        with atomic_file(target, durable=False) as handle:  # a cache: rebuilt if lost in a crash
            handle.write(base64.b64decode(thumb.uri.split(",", 1)[1]))
        return target

    def output(self, path: str, sha256: str, size: str = "sm") -> Path | None:
        """The thumbnail of a recorded output file (None when the file is gone or not an image)."""
        target = self._path("out", sha256, size)
        if target.exists():
            return target
        return self._make(target, read_path(path), size)

    def input(self, url: str, size: str = "sm") -> Path | None:
        """The thumbnail of an input image URL (None when it cannot be fetched or decoded)."""
        target = self._path("in", hashlib.sha256(url.encode()).hexdigest(), size)
        if target.exists():
            return target
        return self._make(target, self.fetch(url), size)
