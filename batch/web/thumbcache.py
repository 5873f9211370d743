"""Thumbnails made once and kept on disk under the home (``thumbs/``), named by what they show.

An output's thumbnail is named by the file's sha256 (its content), an input's by the hash of its
URL: a file seen again, in any batch, costs nothing. Written atomically, so two requests racing
for the same thumbnail both end with a whole file. A thumbnail that could not be made (input
unreachable, not an image, too large to decode) is not tried again for ``FAILURE_SECONDS``: a page
asking for it on every refresh costs nothing either.
"""

from __future__ import annotations

import base64
import hashlib
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from batch.files.atomic import PRIVATE, atomic_file
from batch.files.recorded import read_recorded
from batch.reports.thumbs import Fetch, fetch_url, make_thumb

SIZES: dict[str, int] = {"sm": 192, "lg": 1024, "full": 8192}  # full: the viewer's input, at its own size
FAILURE_SECONDS = 600.0  # then a failed thumbnail is tried again (the input may be back)
MAX_FAILURES_KEPT = 10_000


class ThumbCache:
    """JPEG thumbnails under ``root``, made on first request; ``clock`` times the memory of failures."""

    def __init__(self, root: Path, fetch: Fetch = fetch_url, clock: Callable[[], float] = time.monotonic) -> None:
        self.root = root
        self.fetch = fetch
        self.clock = clock
        self._failed: OrderedDict[Path, float] = OrderedDict()  # thumbnail -> when making it failed
        self._lock = threading.Lock()

    def _path(self, kind: str, name: str, size: str) -> Path:
        return self.root / kind / name[:2] / f"{name}-{SIZES[size]}.jpg"

    def _failed_lately(self, target: Path) -> bool:
        with self._lock:
            at = self._failed.get(target)
            if at is not None and self.clock() - at >= FAILURE_SECONDS:
                del self._failed[target]
                at = None
            return at is not None

    def _remember_failure(self, target: Path) -> None:
        with self._lock:
            self._failed[target] = self.clock()
            self._failed.move_to_end(target)
            while len(self._failed) > MAX_FAILURES_KEPT:
                self._failed.popitem(last=False)

    def _get(self, target: Path, read: Callable[[], bytes | None], size: str) -> Path | None:
        """The thumbnail at ``target``, made from ``read()`` unless it is there or failed lately."""
        if target.exists():
            return target
        if self._failed_lately(target):
            return None
        data = read()
        thumb = make_thumb(data, SIZES[size]) if data else None
        if thumb is None:
            self._remember_failure(target)
            return None
        target.parent.mkdir(parents=True, exist_ok=True)
        with atomic_file(target, mode=PRIVATE, durable=False) as handle:  # a cache: rebuilt if lost in a crash
            handle.write(base64.b64decode(thumb.uri.split(",", 1)[1]))
        return target

    def output(self, path: str, length: int, sha256: str, size: str = "sm") -> Path | None:
        """The thumbnail of a recorded output file (None when the file is gone, not an image, or no
        longer the recorded one: a link, another size or another sha256)."""
        return self._get(self._path("out", sha256, size), lambda: read_recorded(path, length, sha256), size)

    def input(self, url: str, size: str = "sm", storage: Mapping[str, Any] | None = None) -> Path | None:
        """The thumbnail of an input image URL (None when it cannot be fetched, decoded, or is too large);
        ``storage``: its batch's storage settings, for a bucket reference's endpoint."""
        fetch = (lambda: fetch_url(url, storage=storage)) if self.fetch is fetch_url else (lambda: self.fetch(url))
        return self._get(self._path("in", hashlib.sha256(url.encode()).hexdigest(), size), fetch, size)
