"""Where a job's outputs go on disk, which sizes they may have, and fetching them all."""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import requests

from batch.core.schema import OUTPUT_DIMENSIONS
from batch.errors import InputError
from batch.files.download import DownloadLimits, Renewal, SavedFile, download_verified
from batch.store.models import Batch, Job

log = logging.getLogger(__name__)


# A job's answer may hold several images; this many are kept, the first as ``name.ext``, then
# ``name-2.ext`` ... Validation reserves all their names, so no job's file can land on another's.
MAX_OUTPUTS_PER_JOB = 4
PROBE_PREFIX = ".nanobatch-write-probe."  # then a name unique to the probe


def output_names(output_name: str, count: int) -> list[str]:
    """Relative names (``/``-separated) of ``count`` outputs: the name itself, then ``name-2.ext``..."""
    base = PurePosixPath(output_name)
    return [str(base)] + [str(base.with_name(f"{base.stem}-{n}{base.suffix}")) for n in range(2, count + 1)]


def output_paths(output_dir: str, output_name: str, count: int) -> list[Path]:
    """Target paths for ``count`` outputs (see ``output_names``)."""
    return [Path(output_dir) / name for name in output_names(output_name, count)]


@dataclass(frozen=True)
class Collision:
    """An output path of ``job`` that ``other``'s outputs take too: the same file, or (``folder``) a
    folder that ``other``'s files go in."""

    job: str
    path: str
    other: str
    folder: bool = False


def output_collisions(jobs: Iterable[tuple[str, str]]) -> list[Collision]:
    """Clashes among the (job id, output name) pairs, counting every output a job may return.

    Names compare without case (two names differing only in case are one file on macOS and Windows).
    """
    owners: dict[str, tuple[str, str]] = {}  # lower-cased path -> (job, path)
    found: list[Collision] = []
    for job, output_name in jobs:
        for path in output_names(output_name, MAX_OUTPUTS_PER_JOB):
            other, _ = owners.setdefault(path.lower(), (job, path))
            if other != job:
                found.append(Collision(job, path, other))
    folders: dict[str, str] = {}  # lower-cased folder -> a job with files inside it
    for key, (job, _) in owners.items():
        parts = key.split("/")
        for end in range(1, len(parts)):
            folders.setdefault("/".join(parts[:end]), job)
    found += [Collision(job, path, folders[key], folder=True) for key, (job, path) in owners.items() if key in folders]
    return found


def check_output_dir(output_dir: str) -> None:
    """Create ``output_dir`` and write (then remove) a probe file in it; InputError naming it if that fails.

    The probe's name is unique to this call: two runs sharing the folder never remove each other's probe.
    """
    folder = Path(output_dir)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(prefix=PROBE_PREFIX, dir=folder):
            pass
    except FileExistsError:
        raise InputError(f"output_dir {output_dir}: a file is in the way (it, or a folder above it, "
                         "is not a folder)") from None
    except OSError as exc:
        raise InputError(f"output_dir {output_dir}: cannot write there ({exc.strerror or exc})") from None


def allowed_sizes(inputs: dict[str, Any]) -> set[tuple[int, int]]:
    """The sizes the output may have: one for a fixed ratio, any at the resolution for ``auto``."""
    resolution = inputs.get("resolution", "1K")
    ratio = inputs.get("aspect_ratio", "auto")
    if ratio in OUTPUT_DIMENSIONS:
        return {OUTPUT_DIMENSIONS[ratio][resolution]}
    return {sizes[resolution] for sizes in OUTPUT_DIMENSIONS.values()}


def download_all(http: requests.Session, job: Job, batch: Batch, *, limits: DownloadLimits,
                 renewal: Renewal | None = None) -> list[SavedFile]:
    """Download and verify every output URL of ``job``; raise DownloadError on the first bad one.

    ``renewal`` keeps the job's lease while the files arrive (see ``download_verified``).
    """
    urls = (job.result_urls or [])[:MAX_OUTPUTS_PER_JOB]  # the rest stay recorded in result_urls
    if len(job.result_urls or []) > len(urls):
        log.warning("job %s: %d outputs; the first %d are kept", job.id, len(job.result_urls or []), len(urls))
    paths = output_paths(batch.output_dir, job.output_name, len(urls))
    fmt = job.inputs.get("output_format", "png")
    sizes = allowed_sizes(job.inputs)
    return [
        download_verified(http, url, path, output_format=fmt, allowed_sizes=sizes, limits=limits, renewal=renewal)
        for url, path in zip(urls, paths, strict=True)
    ]


def output_rows(job: Job, saved: list[SavedFile]) -> list[dict[str, Any]]:
    """Output rows (column values) recording the verified files."""
    return saved_rows(job.id, saved, job.result_urls or [])


def saved_rows(job_id: int, saved: list[SavedFile], urls: list[str] | None = None) -> list[dict[str, Any]]:
    """Output rows of job ``job_id`` for its verified files (``urls``: where each came from, if known)."""
    urls = urls or []
    return [
        {"job_id": job_id, "idx": i, "path": f.path, "url": urls[i] if i < len(urls) else None, "bytes": f.bytes,
         "sha256": f.sha256, "width": f.width, "height": f.height, "format": f.format,
         "object_url": f.object_url, "object_etag": f.object_etag, "object_bytes": f.object_bytes}
        for i, f in enumerate(saved)
    ]
