"""Before a batch is stored: check the buckets can be reached, then upload its local inputs.

Both run at ``validate``/``submit``, before any job reaches upstream, so wrong credentials or a
missing bucket cost nothing. A problem is reported like any manifest problem, at file:line.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager

from batch.errors import ManifestError, StorageError
from batch.manifest.model import Manifest, Problem
from batch.storage.config import StorageConfig
from batch.storage.refs import ObjectRef, parse_ref
from batch.storage.signing import bucket_for
from batch.storage.uploads import InputChanged, UploadReport, upload_missing

BAR_FROM_FILES = 20  # fewer uploads are over before a bar would tell anything
ProgressFactory = Callable[[int], AbstractContextManager[Callable[[int], None] | None]]


def bucket_places(manifest: Manifest) -> list[tuple[ObjectRef, int, str]]:
    """Every bucket location the batch reads or writes: (reference, line, field), each bucket once."""
    places: list[tuple[ObjectRef, int, str]] = []
    if manifest.storage is not None:
        places.append((manifest.storage.location, manifest.lines.get("storage", 0), "storage.url"))
    if manifest.output_url is not None:
        ref = parse_ref(manifest.output_url)
        if ref is not None:
            places.append((ref, manifest.lines.get("output_dir", 0), "output_dir"))
    for spec in manifest.jobs:
        for index, url in enumerate(spec.inputs.get("image_urls", ())):
            ref = parse_ref(url)
            if ref is not None:
                places.append((ObjectRef(ref.scheme, ref.bucket, ""), spec.line, f"{spec.id}.image_urls.{index}"))
    seen: set[tuple[str, str]] = set()
    unique = []
    for ref, line, field in places:
        if (ref.scheme, ref.bucket) not in seen:
            seen.add((ref.scheme, ref.bucket))
            unique.append((ref, line, field))
    return unique


def check_access(manifest: Manifest) -> None:
    """List each bucket the manifest names once; raise ManifestError (file:line) for any refused."""
    problems = []
    for ref, line, field in bucket_places(manifest):
        try:
            bucket_for(ref.scheme, ref.bucket, manifest.storage).check(ref.key)
        except StorageError as exc:
            problems.append(Problem(manifest.path, line, field, str(exc)))
    if problems:
        raise ManifestError(problems)


def upload_inputs(manifest: Manifest, progress: ProgressFactory | None = None) -> UploadReport:
    """Upload the manifest's local input files that are not in its bucket yet.

    ``progress(total)`` gives a context whose value (if not None) is called with 1 per file done
    (default: a bar on stderr for many files).
    Raises ManifestError when an upload fails: at the storage: line, or at the line naming a
    local file that changed since it was hashed.
    """
    config: StorageConfig | None = manifest.storage
    if not manifest.uploads or config is None:
        return UploadReport(0, 0, 0)
    location = config.location
    bucket = bucket_for(location.scheme, location.bucket, config)
    context = (progress or upload_bar)(len(manifest.uploads))
    try:
        with context as advance:
            return upload_missing(bucket, manifest.uploads, progress=advance)
    except InputChanged as exc:
        raise ManifestError([Problem(manifest.path, exc.item.line, "image_urls", str(exc))]) from None
    except StorageError as exc:
        raise ManifestError([Problem(manifest.path, manifest.lines.get("storage", 0), "storage", str(exc))]) from None


@contextmanager
def upload_bar(total: int) -> Iterator[Callable[[int], None] | None]:
    """A progress bar on stderr for ``total`` uploads (none for a few files or when stderr is not a terminal)."""
    if total < BAR_FROM_FILES or not sys.stderr.isatty():
        yield None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(TextColumn("uploading inputs"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task("upload", total=total)
        yield lambda n: bar.advance(task, n)
