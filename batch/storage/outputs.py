"""Verified output files copied to the batch's bucket (``output_dir: s3://bucket/prefix``).

A file is verified on local disk first, exactly as for a local output folder; then it is
uploaded (atomically: the object appears whole or not at all) and read back with a HEAD whose
size must match. Only then does it count: the caller records the job's files, with the object's
reference, size and ETag, in the same transaction that finishes the job. Any failure here is a
retryable download error, so a file not fully uploaded is never recorded as done.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import replace
from pathlib import Path
from typing import Any

from batch.errors import DownloadError, StorageError
from batch.files.atomic import SHARED, atomic_file
from batch.files.download import SavedFile
from batch.storage.refs import parse_ref
from batch.storage.signing import Connection, bucket_for


def publish(options: dict[str, Any], output_dir: str, saved: list[SavedFile]) -> list[SavedFile]:
    """Upload ``saved`` below the batch's ``output_url`` (if it has one); the files with their objects."""
    target = parse_ref(options.get("output_url"))
    if target is None:
        return saved
    bucket = bucket_for(target.scheme, target.bucket, options.get("storage"))
    published = []
    for file in saved:
        relative = Path(os.path.relpath(file.path, output_dir)).as_posix()
        ref = target.child(relative)
        try:
            bucket.put_file(ref.key, Path(file.path))
            found = bucket.head(ref.key)
        except (StorageError, OSError) as exc:
            raise DownloadError(f"upload of {relative} to {ref} failed: {exc}", retryable=True) from None
        if found is None or found.size != file.bytes:
            size = "nothing" if found is None else f"{found.size} bytes"
            raise DownloadError(f"{ref} holds {size} after the upload of {file.bytes}", retryable=True)
        published.append(replace(file, object_url=str(ref), object_etag=found.etag, object_bytes=found.size))
    return published


def object_matches(url: str, size: int, etag: str | None, connection: Connection) -> bool:
    """True if the object at ``url`` is there with this size (and ETag, when one was recorded).

    For the reuse of an earlier job's output whose local copy is gone (another machine, a
    cleaned disk). ``connection``: the storage settings of the batch that recorded it.
    """
    ref = parse_ref(url)
    if ref is None:
        return False
    try:
        found = bucket_for(ref.scheme, ref.bucket, connection).head(ref.key)
    except StorageError:
        return False
    return found is not None and found.size == size and (etag is None or found.etag == etag)


def restore(url: str, target: Path, sha256: str, connection: Connection) -> None:
    """Put the object at ``url`` at ``target`` (atomically) if its content has this sha256.

    ``connection``: the storage settings of the batch that recorded it.
    """
    ref = parse_ref(url)
    if ref is None:
        raise DownloadError(f"not a bucket reference: {url!r}")
    try:
        data = bucket_for(ref.scheme, ref.bucket, connection).read(ref.key)
    except StorageError as exc:
        raise DownloadError(f"cannot read {url}: {exc}", retryable=True) from None
    if hashlib.sha256(data).hexdigest() != sha256:
        raise DownloadError(f"{url} no longer holds the recorded file (sha256 differs)")
    target.parent.mkdir(parents=True, exist_ok=True)
    with atomic_file(target, mode=SHARED) as handle:
        handle.write(data)
