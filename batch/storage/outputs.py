"""Verified output files copied to the batch's bucket (``output_dir: s3://bucket/prefix``).

A file is verified on local disk first, exactly as for a local output folder; then it is
uploaded (atomically: the object appears whole or not at all) and read back with a HEAD whose
size must match. Only then does it count: the caller records the job's files, with the object's
reference, size and ETag, in the same transaction that finishes the job. Any failure here is a
retryable download error, so a file not fully uploaded is never recorded as done.
"""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path
from typing import Any

from batch.errors import DownloadError
from batch.files.download import SavedFile
from batch.storage.config import StorageConfig
from batch.storage.refs import parse_ref
from batch.storage.signing import bucket_for
from batch.storage.store import StorageError


def publish(options: dict[str, Any], output_dir: str, saved: list[SavedFile]) -> list[SavedFile]:
    """Upload ``saved`` below the batch's ``output_url`` (if it has one); the files with their objects."""
    target = parse_ref(options.get("output_url"))
    if target is None:
        return saved
    bucket = bucket_for(target.scheme, target.bucket, StorageConfig.from_options(options.get("storage")))
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
