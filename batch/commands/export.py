"""What ``nanobatch export BATCH --approved DEST`` does: copy the approved outputs, and say what was copied.

Each file lands under its output name (relative to the batch's output folder) below DEST,
written to a temporary file beside the target and renamed into place; ``export.csv`` lists
every file exported (job, path, bytes, sha256, who approved it and when), written the same way.
"""

from __future__ import annotations

import csv
import io
import shutil
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

from batch.commands.review import check_batch
from batch.core.progress import iso_utc
from batch.errors import InputError
from batch.files.atomic import atomic_file
from batch.reports.data import write_atomic
from batch.store import reviews as store

MANIFEST_NAME = "export.csv"
MANIFEST_COLUMNS = ("id", "output", "source", "bytes", "sha256", "approved_by", "approved_at")


@dataclass(frozen=True)
class Exported:
    """One file copied: the job, where it went (relative to DEST), where it came from, and its approval."""

    key: str
    relative: str
    source: str
    bytes: int
    sha256: str
    who: str
    at: float


def _approved(session: Session, batch_id: int) -> tuple[str, list[Exported]]:
    batch = check_batch(session, batch_id)
    # each output by the decision that holds for it (a job may return several images)
    decided = {k: d for k, d in store.of_batch_outputs(session, batch_id).items() if d.decision == store.APPROVED}
    rows = store.outputs_of_jobs(session, sorted({job_id for job_id, _ in decided}))
    base = Path(batch.output_dir)
    files: list[Exported] = []
    for job_id, key, out in rows:
        approval = decided.get((job_id, out.idx))
        if approval is None:
            continue
        path = Path(out.path)
        relative = path.relative_to(base).as_posix() if path.is_relative_to(base) else path.name
        files.append(Exported(key, relative, out.path, out.bytes, out.sha256, approval.who, approval.at))
    return batch.output_dir, files


def _copy_atomic(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    with atomic_file(target) as out, source.open("rb") as src:
        shutil.copyfileobj(src, out)


def _manifest(files: list[Exported]) -> bytes:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(MANIFEST_COLUMNS)
    for f in files:
        writer.writerow([f.key, f.relative, f.source, f.bytes, f.sha256, f.who, iso_utc(f.at)])
    return buf.getvalue().encode("utf-8")


def export_approved(sessions: sessionmaker[Session], batch_id: int, dest: str | Path) -> list[Exported]:
    """Copy every approved output of the batch below ``dest`` and write ``dest/export.csv``; returns the files."""
    target = Path(dest).expanduser().absolute()
    if target.exists() and not target.is_dir():
        raise InputError(f"cannot export to {target}: it is a file")
    with sessions() as session:
        _, files = _approved(session, batch_id)
    try:
        target.mkdir(parents=True, exist_ok=True)
        for f in files:
            _copy_atomic(Path(f.source), target / f.relative)
    except OSError as exc:
        raise InputError(f"cannot export to {target}: {exc.strerror or exc} ({exc.filename or target})") from None
    write_atomic(target / MANIFEST_NAME, _manifest(files))
    return files
