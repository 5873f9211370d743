"""What ``nanobatch export BATCH --approved DEST`` does: copy the approved outputs, and say what was copied.

Each file lands under its output name (relative to the batch's output folder) below DEST,
written to a temporary file beside the target and renamed into place; ``export.csv`` lists
every file exported (job, path, bytes, sha256, who approved it and when), written the same way.

Only what was approved leaves: each file must still have the recorded size and sha256 (a file
changed since, with a copy in the bucket, is exported from that copy; without one the export is
refused, naming the job). Nothing of anyone else's is touched: DEST may not lie inside any
batch's output folder, a different file already in DEST stays unless ``overwrite``, and no link
inside DEST is followed. Every check runs before the first file is written.
"""

from __future__ import annotations

import hashlib
import stat
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, BinaryIO

from sqlalchemy.orm import Session, sessionmaker

from batch.commands.review import check_batch
from batch.core.progress import iso_utc
from batch.errors import DownloadError, InputError
from batch.files.atomic import SHARED, atomic_file
from batch.files.recorded import CHUNK, file_matches, open_recorded
from batch.reports.data import csv_text, write_atomic
from batch.store import queries
from batch.store import reviews as store

MANIFEST_NAME = "export.csv"
MANIFEST_COLUMNS = ("id", "output", "source", "bytes", "sha256", "approved_by", "approved_at")


@dataclass(frozen=True)
class Exported:
    """One file copied: the job, where it went (relative to DEST), where it came from, and its approval.

    ``source`` is the recorded path, or the bucket object when the local file no longer matches."""

    key: str
    relative: str
    source: str
    bytes: int
    sha256: str
    who: str
    at: float
    object_url: str | None = None
    storage: Mapping[str, Any] | None = None  # its batch's storage settings, to reach its bucket copy

    def as_json(self) -> dict[str, Any]:
        """One exported file as ``export --json`` lists it (its export.csv row)."""
        return {"id": self.key, "output": self.relative, "source": self.source, "bytes": self.bytes,
                "sha256": self.sha256, "approved_by": self.who, "approved_at": iso_utc(self.at)}


def _approved(session: Session, batch_id: int) -> list[Exported]:
    batch = check_batch(session, batch_id)
    # each output by the decision that holds for it (a job may return several images)
    decided = {k: d for k, d in store.of_batch_outputs(session, batch_id).items() if d.decision == store.APPROVED}
    rows = store.outputs_of_jobs(session, sorted({job_id for job_id, _ in decided}))
    base = Path(batch.output_dir)
    storage = (batch.options or {}).get("storage")
    files: list[Exported] = []
    for job_id, key, out in rows:
        approval = decided.get((job_id, out.idx))
        if approval is None:
            continue
        path = Path(out.path)
        relative = path.relative_to(base).as_posix() if path.is_relative_to(base) else path.name
        files.append(Exported(key, relative, out.path, out.bytes, out.sha256, approval.who, approval.at,
                              out.object_url, storage))
    return files


def _outside_outputs(dest: Path, relatives: list[str], folders: list[tuple[int, str]]) -> None:
    """InputError when ``dest`` is (or lies inside) a batch's output folder, links resolved, or when a
    file exported below it (``relatives``) would land in an output folder that lies inside ``dest``."""
    real = dest.resolve()
    resolved = [(batch_id, folder, Path(folder).expanduser().resolve()) for batch_id, folder in folders]
    for batch_id, folder, inside in resolved:
        if real.is_relative_to(inside):
            raise InputError(f"cannot export to {dest}: it is inside the output folder {folder} of batch "
                             f"{batch_id} (an export there could replace that batch's files); choose another folder")
    nested = [found for found in resolved if found[2].is_relative_to(real)]
    for relative in relatives if nested else []:
        for batch_id, folder, inside in nested:
            if (real / relative).is_relative_to(inside):
                raise InputError(f"cannot export to {dest}: {relative} would land in the output folder {folder} "
                                 f"of batch {batch_id}; choose another folder")


def _sources(files: list[Exported]) -> list[Exported]:
    """The files with where each is read from: the recorded file if it still matches, else its bucket copy.

    InputError naming every job whose file changed and has no bucket copy to export instead."""
    from batch.storage.outputs import object_matches

    checked, refused = [], []
    for f in files:
        if file_matches(f.source, f.bytes, f.sha256):
            checked.append(f)
        elif f.object_url is not None and object_matches(f.object_url, f.bytes, None, f.storage):
            checked.append(replace(f, source=f.object_url))
        else:
            refused.append(f"{f.key} ({f.source})")
    if refused:
        raise InputError(f"not exported: the file of job {', job '.join(refused)} is gone or changed since it was "
                         "approved (size or sha256 differs from the record) and has no bucket copy")
    return checked


def _check_folders(dest: Path, relative: str) -> Path:
    """``dest/relative``; InputError if a folder on the way below DEST is there as a link or a file."""
    folder = dest
    for part in Path(relative).parts[:-1]:
        folder = folder / part
        if not folder.is_symlink() and not folder.exists():
            break  # made by the export, below
        _refuse_unless(folder, stat.S_ISDIR, "not a folder")
    return dest / relative


def _refuse_unless(path: Path, kind: Callable[[int], bool], otherwise: str) -> None:
    """InputError naming ``path`` when it is a link, or not of ``kind`` (``stat.S_ISDIR``...)."""
    mode = path.lstat().st_mode
    if not kind(mode):
        what = "a link" if stat.S_ISLNK(mode) else otherwise
        raise InputError(f"cannot export to {path}: it is {what} (links in DEST are never followed)")


def _differs(target: Path, size: int, sha256: str) -> bool:
    """True when ``target`` holds something else than this content; InputError for a link or a folder."""
    if not target.is_symlink() and not target.exists():
        return False
    _refuse_unless(target, stat.S_ISREG, "not a file")
    return not file_matches(str(target), size, sha256)


def _copy(f: Exported, target: Path) -> None:
    """Copy the recorded file to ``target`` atomically, checking its sha256 on the way; restore it from
    the bucket when that is its source."""
    if f.object_url is not None and f.source == f.object_url:
        from batch.storage.outputs import restore

        try:
            restore(f.object_url, target, f.sha256, f.storage)
        except DownloadError as exc:
            raise InputError(f"not exported: job {f.key}: {exc}") from None
        return
    source = open_recorded(f.source, f.bytes)
    if source is None:
        raise InputError(f"not exported: the file of job {f.key} ({f.source}) changed during the export")
    with source, atomic_file(target, mode=SHARED) as out:
        digest = _copy_hashing(source, out)
        if digest != f.sha256:
            raise InputError(f"not exported: the file of job {f.key} ({f.source}) changed during the export")


def _copy_hashing(source: BinaryIO, out: BinaryIO) -> str:
    """Copy ``source`` to ``out``; the sha256 of what was copied."""
    digest = hashlib.sha256()
    for chunk in iter(lambda: source.read(CHUNK), b""):
        digest.update(chunk)
        out.write(chunk)
    return digest.hexdigest()


def _manifest(files: list[Exported]) -> bytes:
    rows = [[f.as_json()[column] for column in MANIFEST_COLUMNS] for f in files]
    return csv_text([MANIFEST_COLUMNS, *rows]).encode("utf-8")


def export_approved(sessions: sessionmaker[Session], batch_id: int, dest: str | Path, *,
                    overwrite: bool = False) -> list[Exported]:
    """Copy every approved output of the batch below ``dest`` and write ``dest/export.csv``; returns the files.

    Refused (InputError, nothing written) when ``dest`` lies in an output folder, when an approved
    file changed and has no bucket copy, or when a different file is in the way (unless ``overwrite``).
    """
    target = Path(dest).expanduser().absolute()
    if target.exists() and not target.is_dir():
        raise InputError(f"cannot export to {target}: it is a file")
    with sessions() as session:
        files = _approved(session, batch_id)
        folders = queries.output_folders(session)
    _outside_outputs(target, [f.relative for f in files] + [MANIFEST_NAME], folders)
    files = _sources(files)
    manifest = _manifest(files)
    try:
        places = [(f, _check_folders(target, f.relative)) for f in files]
        wanted = [(p, f.bytes, f.sha256) for f, p in places]
        wanted.append((target / MANIFEST_NAME, len(manifest), hashlib.sha256(manifest).hexdigest()))
        differ = [p for p, size, digest in wanted if _differs(p, size, digest)]
        if differ and not overwrite:
            raise InputError(f"not exported: {len(differ)} different files are already in {target} "
                             f"({', '.join(str(p.relative_to(target)) for p in differ[:3])}"
                             f"{', ...' if len(differ) > 3 else ''}); they are kept: give --overwrite to replace them")
        for f, place in places:
            if place in differ or not place.exists():
                place.parent.mkdir(parents=True, exist_ok=True)
                _copy(f, place)
        target.mkdir(parents=True, exist_ok=True)  # an export of no file still writes its export.csv
    except OSError as exc:
        raise InputError(f"cannot export to {target}: {exc.strerror or exc} ({exc.filename or target})") from None
    write_atomic(target / MANIFEST_NAME, manifest)
    return files

