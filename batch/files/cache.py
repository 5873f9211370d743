"""Skip what is done: reuse the verified file of an earlier identical job instead of paying again.

Two jobs are identical when their fingerprints match (model + canonical inputs, optionally the
inputs' HTTP validators, see ``batch.core.fingerprint``). The earlier file counts only if it
is still on disk with the recorded size and sha256 (or, its local copy gone, its copy in a bucket
is there with the recorded size and ETag); it is then copied (atomically) to the new job's
output path, or left alone when the path is the same.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from batch.files.atomic import SHARED, atomic_file
from batch.files.download import SavedFile
from batch.files.outputs import output_paths
from batch.files.recorded import file_matches as file_matches  # commands/cached imports it from here
from batch.store import outputs as outputs_store
from batch.store.models import Output


@dataclass(frozen=True)
class Earlier:
    """An earlier identical job's recorded files, and how to reach its bucket copies."""

    job_id: int
    outputs: list[Output]
    storage: Mapping[str, Any] | None  # its batch's storage settings (endpoint, region), as its manifest gave them


def find_reusable(session: Session, fingerprint: str, exclude_job: int) -> Earlier | None:
    """The newest earlier job with this fingerprint whose files all still verify, with its files."""
    for job_id in outputs_store.finished_with(session, fingerprint, exclude_job):
        outputs = outputs_store.outputs_of(session, job_id)
        storage = outputs_store.storage_of(session, job_id) if any(o.object_url for o in outputs) else None
        if outputs and all(_available(o, storage) for o in outputs):
            return Earlier(job_id, list(outputs), storage)
    return None


def _available(output: Output, storage: Mapping[str, Any] | None) -> bool:
    """The file verifies on disk, or (its local copy gone) its copy in a bucket is there."""
    if file_matches(output.path, output.bytes, output.sha256):
        return True
    if output.object_url is None:
        return False
    from batch.storage.outputs import object_matches

    return object_matches(output.object_url, output.bytes, output.object_etag, storage)


def reuse(outputs: list[Output], output_dir: str, output_name: str,
          storage: Mapping[str, Any] | None = None) -> list[SavedFile]:
    """Put copies of ``outputs`` at this job's paths (atomic copy; nothing to do for the same path).

    ``storage``: the settings of the bucket the outputs' copies are in, for a file only a copy is left of.
    """
    targets = output_paths(output_dir, output_name, len(outputs))
    saved = []
    for source, target in zip(outputs, targets, strict=True):
        if source.object_url and not os.path.exists(source.path):  # only its bucket copy is left
            from batch.storage.outputs import restore

            restore(source.object_url, target, source.sha256, storage)
        elif not _same_file(Path(source.path), target):
            _atomic_copy(Path(source.path), target)
        saved.append(SavedFile(str(target), source.bytes, source.sha256, source.width, source.height, source.format))
    return saved


def _same_file(source: Path, target: Path) -> bool:
    """True when both name one file (equal absolute paths are, without asking the file system)."""
    if os.path.abspath(source) == os.path.abspath(target):
        return True
    return source.resolve() == target.resolve()


def _atomic_copy(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    with atomic_file(target, mode=SHARED, durable=False) as handle, open(source, "rb") as src:
        shutil.copyfileobj(src, handle)
