"""Where a job's outputs go on disk, which sizes they may have, and fetching them all."""

from __future__ import annotations

from pathlib import Path, PurePosixPath
from typing import Any

import requests

from batch.core.schema import OUTPUT_DIMENSIONS
from batch.files.download import SavedFile, download_verified
from batch.store.models import Batch, Job


def output_paths(output_dir: str, output_name: str, count: int) -> list[Path]:
    """Target paths for ``count`` outputs: the name itself, then ``name-2.ext``, ``name-3.ext``..."""
    base = Path(output_dir) / PurePosixPath(output_name)
    paths = [base]
    for n in range(2, count + 1):
        paths.append(base.with_name(f"{base.stem}-{n}{base.suffix}"))
    return paths


def allowed_sizes(inputs: dict[str, Any]) -> set[tuple[int, int]]:
    """The sizes the output may have: one for a fixed ratio, any at the resolution for ``auto``."""
    resolution = inputs.get("resolution", "1K")
    ratio = inputs.get("aspect_ratio", "auto")
    if ratio in OUTPUT_DIMENSIONS:
        return {OUTPUT_DIMENSIONS[ratio][resolution]}
    return {sizes[resolution] for sizes in OUTPUT_DIMENSIONS.values()}


def download_all(http: requests.Session, job: Job, batch: Batch) -> list[SavedFile]:
    """Download and verify every output URL of ``job``; raise DownloadError on the first bad one."""
    urls = job.result_urls or []
    paths = output_paths(batch.output_dir, job.output_name, len(urls))
    fmt = job.inputs.get("output_format", "png")
    sizes = allowed_sizes(job.inputs)
    return [
        download_verified(http, url, path, output_format=fmt, allowed_sizes=sizes, writer=f"job{job.id}")
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
         "sha256": f.sha256, "width": f.width, "height": f.height, "format": f.format}
        for i, f in enumerate(saved)
    ]
