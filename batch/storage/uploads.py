"""Local input files uploaded once, under a key made of their content's sha256.

The same image used by three styles is one object; a batch submitted again (or resumed after a
crash mid-upload) finds the objects already there and uploads nothing again. An upload is
atomic (a single PUT, or a multipart upload completed only at its end), so an interrupted one
leaves no object and is simply done again.

A file is read whole (inputs are at most ``MAX_INPUT_BYTES``) both when the manifest is read
(``read_input``: hashed, and decoded enough to know it is an intact image) and when it is
uploaded: the bytes sent are hashed again and must match their key, so a file edited in between
is refused instead of being stored under the hash of its old content.
"""

from __future__ import annotations

import hashlib
import io
import os
import stat
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from batch.core.schema import MAX_INPUT_BYTES
from batch.errors import StorageError
from batch.storage.refs import parse_ref

if TYPE_CHECKING:  # the manifest hashes files with this module; the client loads only to upload
    from batch.storage.store import Bucket

UPLOAD_THREADS = 8
SKIPPED = -2
JPEG_END = b"\xff\xd9"  # EOI


class InputFileError(Exception):
    """A local input that cannot be used; the message completes "local file 'x' ..."."""


def read_bytes(path: Path) -> bytes:
    """The content of the regular file ``path`` (a link as its last part is refused), at most
    ``MAX_INPUT_BYTES``; raises InputFileError saying why not."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError as err:
        raise InputFileError(f"cannot be read: {err.strerror or err}") from None
    with open(fd, "rb") as handle:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise InputFileError("is not a regular file")
        data = handle.read(MAX_INPUT_BYTES + 1)
    if len(data) > MAX_INPUT_BYTES:
        raise InputFileError(f"is larger than {MAX_INPUT_BYTES // (1024 * 1024)} MB, the most the API reads")
    return data


def image_problem(data: bytes) -> str | None:
    """Why ``data`` is not an intact image, or None.

    Cheap, as it runs on every photo at ``validate`` (decoding a 1 MB JPEG even at 1/8 scale costs
    about 25 ms, hashing it 1 ms): the headers are parsed (a format Pillow reads, a size within its
    decompression-bomb limit); a JPEG must hold its end marker after its first scan's header (a
    truncated file does not: entropy-coded data cannot contain one), a PNG's chunks and CRCs are
    checked (``verify``, no decompression), a WebP's container is read whole by its decoder.
    """
    if not data:
        return "is empty"
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as image:
            if image.format == "JPEG":
                scan = image.fp.tell() if image.fp is not None else 0  # Pillow stops right after the SOS header
                if data.find(JPEG_END, scan) < 0:
                    return "is cut short (a JPEG without its end marker): copy it again"
            elif image.format == "PNG":
                image.verify()
    except UnidentifiedImageError:
        return "is not an image (no format Pillow reads recognises it)"
    except Image.DecompressionBombError as exc:
        return f"has too many pixels to be read safely ({str(exc).split('(')[0].strip()})"
    except Exception as exc:  # the decoder's own errors, whatever their class: damaged data
        return f"is a damaged image ({(str(exc) or type(exc).__name__)[:120]})"
    return None


def read_input(path: Path) -> str:
    """The hex sha256 of the local input ``path``, once it is known to be an intact image.

    Raises InputFileError (unreadable, not a regular file, too large, empty, not an image, damaged).
    """
    data = read_bytes(path)
    problem = image_problem(data)
    if problem is not None:
        raise InputFileError(problem)
    return hashlib.sha256(data).hexdigest()


@dataclass(frozen=True, slots=True)
class LocalInput:
    """A local file, the reference it is uploaded to (which holds its sha256), and its path as written."""

    path: Path
    sha256: str
    ref: str
    source: str = ""
    line: int = 0  # where the manifest first names it


class InputChanged(StorageError):
    """A local input (``item``) no longer holds the content it was hashed with: it was not uploaded."""

    def __init__(self, item: LocalInput, message: str) -> None:
        super().__init__(message)
        self.item = item


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
            bucket.put_bytes(ref.key, _unchanged(item))
            sent = size
        if progress is not None:
            progress(1)
        return sent

    with ThreadPoolExecutor(max(1, threads)) as pool:
        results = list(pool.map(one, unique.values()))
    sent = [n for n in results if n >= 0]
    return UploadReport(uploaded=len(sent), present=len(results) - len(sent), bytes_uploaded=sum(sent))


def _unchanged(item: LocalInput) -> bytes:
    """The file's bytes, if they still hash to the key they go to (else StorageError naming the file)."""
    shown = item.source or str(item.path)
    try:
        data = read_bytes(item.path)
    except InputFileError as err:
        raise InputChanged(item, f"local file {shown!r} {err}") from None
    if hashlib.sha256(data).hexdigest() != item.sha256:
        raise InputChanged(item, f"local file {shown!r} changed after it was checked (its content no longer has the "
                           "sha256 it was read with); nothing of this batch was stored: submit again")
    return data
