"""Local input files uploaded once, under a key made of their content's sha256.

The same image used by three styles is one object; a batch submitted again (or resumed after a
crash mid-upload) finds the objects already there and uploads nothing again. An upload is
atomic (a single PUT, or a multipart upload completed only at its end), so an interrupted one
leaves no object and is simply done again.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from batch.storage.refs import parse_ref

if TYPE_CHECKING:  # the manifest hashes files with this module; the client loads only to upload
    from batch.storage.store import Bucket

CHUNK = 1 << 20
UPLOAD_THREADS = 8
SKIPPED = -2


def sha256_file(path: Path) -> str:
    """The hex sha256 of the file's content."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


@dataclass(frozen=True, slots=True)
class LocalInput:
    """A local file and the reference it is uploaded to (which holds its sha256)."""

    path: Path
    sha256: str
    ref: str


@dataclass(frozen=True)
class UploadReport:
    """What an upload round did."""

    uploaded: int
    present: int
    bytes_uploaded: int


def upload_missing(bucket: Bucket, files: Iterable[LocalInput], *,
                   progress: Callable[[int], None] | None = None, threads: int = UPLOAD_THREADS) -> UploadReport:
    """Upload each file whose object is not in ``bucket`` yet (same key and size); ``progress(1)`` per file.

    Raises StorageError on the first failure (the files uploaded before it stay uploaded).
    """
    unique = {f.ref: f for f in files}
    failed = threading.Event()  # after a failure, start no more uploads

    def one(item: LocalInput) -> int:
        if failed.is_set():
            return SKIPPED
        try:
            return upload(item)
        except BaseException:
            failed.set()
            raise

    def upload(item: LocalInput) -> int:
        ref = parse_ref(item.ref)
        assert ref is not None and ref.bucket == bucket.name, item.ref
        size = item.path.stat().st_size
        found = bucket.head(ref.key)
        if found is not None and found.size == size:
            sent = -1
        else:
            bucket.put_file(ref.key, item.path)
            sent = size
        if progress is not None:
            progress(1)
        return sent

    with ThreadPoolExecutor(max(1, threads)) as pool:
        results = list(pool.map(one, unique.values()))
    sent = [n for n in results if n >= 0]
    return UploadReport(uploaded=len(sent), present=len(results) - len(sent), bytes_uploaded=sum(sent))
