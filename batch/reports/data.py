"""Batch reports: one row per job, as CSV or JSON (HTML in ``batch.reports.html``; ``batch.reports.writer``
picks the format and writes the file).

Every format is written atomically: to a temporary file beside the target, then ``os.replace``,
so a reader never sees half a report. The API token never appears here: rows hold only what the
manifest asked for and what the jobs produced.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from batch.core.cost import usd_float, usd_number
from batch.core.progress import iso_utc
from batch.core.sources import name_inputs, shown_inputs
from batch.errors import InputError
from batch.files.atomic import SHARED, atomic_file
from batch.store import pilot, queries, reviews
from batch.store.models import Job, Output
from batch.store.queries import BatchSummary
from batch.store.reviews import Decision

FORMATS: tuple[str, ...] = ("csv", "json", "html")
EXTENSIONS: dict[str, str] = {".csv": "csv", ".json": "json", ".html": "html", ".htm": "html"}
COLUMNS: tuple[str, ...] = (
    "id", "state", "prompt", "inputs", "input_files", "aspect_ratio", "resolution", "output_format",
    "outputs", "objects", "sha256", "size", "bytes", "cost", "odd_cost", "created_at", "submitted_at", "completed_at",
    "finished_at", "seconds", "attempts", "submits", "uncertain_submits", "error", "review", "review_note",
    "pilot", "variant",
)
# Columns that hold one value per input or output: lists in JSON, space-separated in CSV.
# "objects": the outputs' copies in the batch's bucket (output_dir: s3://...), "" for local-only ones.
# "input_files": each input as the manifest wrote it (a local photo's path, else its URL).
LIST_COLUMNS = frozenset({"inputs", "input_files", "outputs", "objects", "sha256", "size", "bytes"})
# A spreadsheet runs a cell starting with one of these as a formula (OWASP "CSV injection").
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")


@dataclass(frozen=True)
class BatchHeader(BatchSummary):
    """What the top of a report says about the batch: its summary and where its files are."""

    output_dir: str
    storage: Mapping[str, Any] | None = None  # the manifest's storage settings: its bucket's endpoint, region
    pilot: str | None = None  # where the pilot is, or who decided on it, when and which variants

    def as_json(self) -> dict[str, Any]:
        """The ``batch`` object of the JSON report."""
        return {**super().as_json(), "output_dir": self.output_dir, "pilot": self.pilot}


@dataclass(frozen=True)
class ReportData:
    """A batch's header and one row (a dict over ``COLUMNS``) per job, in job order."""

    header: BatchHeader
    rows: list[dict[str, Any]]


def job_row(job: Job, outputs: Sequence[Output], review: Decision | None = None) -> dict[str, Any]:
    """One report row. ``seconds`` runs from the job's creation to its end (None while running);
    ``review`` is the job's current decision (approved, rejected, or None when not reviewed)."""
    inputs = job.inputs
    urls = list(inputs.get("image_urls", []))
    ordered = sorted(outputs, key=lambda o: o.idx)
    seconds = round(job.finished_at - job.created_at, 3) if job.finished_at is not None else None
    return {
        "id": job.key, "state": job.state, "prompt": inputs.get("prompt", ""),
        "inputs": urls, "input_files": shown_inputs(urls, job.input_sources),
        "aspect_ratio": inputs.get("aspect_ratio", "auto"),
        "resolution": inputs.get("resolution", "1K"), "output_format": inputs.get("output_format", "png"),
        "outputs": [o.path for o in ordered], "objects": [o.object_url or "" for o in ordered],
        "sha256": [o.sha256 for o in ordered],
        "size": [f"{o.width}x{o.height}" for o in ordered], "bytes": [o.bytes for o in ordered],
        "cost": usd_number(job.cost), "odd_cost": job.odd_cost,
        "created_at": iso_utc(job.created_at), "submitted_at": iso_utc(job.submitted_at),
        "completed_at": iso_utc(job.completed_at), "finished_at": iso_utc(job.finished_at),
        "seconds": seconds, "attempts": job.attempts, "submits": job.submits,
        "uncertain_submits": job.uncertain_submits,
        "error": job.error and name_inputs(job.error, urls, job.input_sources),
        "review": review.decision if review else None, "review_note": review.note if review else None,
        "pilot": job.pilot, "variant": job.variant,
    }


def load_report(sessions: sessionmaker[Session], batch_id: int) -> ReportData:
    """Read the batch, its jobs and their outputs in one session; InputError for an unknown batch."""
    with sessions() as session:
        found = queries.report_rows(session, batch_id)
        if found is None:
            raise InputError(f"no batch {batch_id}")
        batch, jobs, outputs = found
        decided = reviews.latest(session, batch_id)
        rows = [job_row(job, outputs.get(job.id, []), decided.get(job.id)) for job in jobs]
        name, created_at, output_dir = batch.name, batch.created_at, batch.output_dir
        storage = (batch.options or {}).get("storage")
        charged = usd_float(batch.charged_usd)
        trial = pilot.progress(session, batch)
    counts: dict[str, int] = {}
    for row in rows:
        counts[row["state"]] = counts.get(row["state"], 0) + 1
    # the batch's total: a retried job's earlier runs were paid too, though its row shows its last
    said = None if trial is None else trial.text()
    return ReportData(BatchHeader(batch_id, name, created_at, counts, charged, output_dir, storage, said), rows)


def _csv_value(column: str, value: Any) -> Any:
    if value is None:
        return ""
    if column in LIST_COLUMNS:
        value = " ".join(str(v) for v in value)
    return value


def defuse_formula(text: str) -> str:
    """``text`` with a leading ``'`` when a spreadsheet would read it as a formula.

    As OWASP advises for cells starting with ``= + - @``, tab or carriage return; a plain
    number such as ``-3.5`` is left as it is, so that it stays a number in the sheet.
    """
    if text.startswith(FORMULA_STARTS) and not _PLAIN_NUMBER.fullmatch(text):
        return "'" + text
    return text


def csv_text(rows: Iterable[Sequence[Any]]) -> str:
    """CSV lines ending in ``\\n``, every text cell defused (``defuse_formula``): the one way
    nanobatch writes a CSV a spreadsheet may open."""
    buf = io.StringIO()
    # "\r\n" so that the writer quotes a cell holding a lone "\r" (with "\n" it does not, and a
    # reader would split the row there); each line then ends in "\n" like the rest of the files
    writer = csv.writer(buf, lineterminator="\r\n")
    lines = []
    for cells in rows:
        writer.writerow([defuse_formula(c) if isinstance(c, str) else c for c in cells])
        lines.append(buf.getvalue()[:-2])
        buf.seek(0)
        buf.truncate()
    return "".join(line + "\n" for line in lines)


def render_csv(data: ReportData) -> str:
    """A header line of ``COLUMNS`` and one line per job; list columns joined by spaces."""
    return csv_text([COLUMNS, *([_csv_value(c, row[c]) for c in COLUMNS] for row in data.rows)])


def render_json(data: ReportData) -> str:
    """``{"batch": {...}, "jobs": [row, ...]}`` with list columns as lists."""
    return json.dumps({"batch": data.header.as_json(), "jobs": data.rows}, indent=2) + "\n"


def format_for(path: Path, fmt: str | None) -> str:
    """The report format: ``fmt`` when given, else from the extension of ``path``."""
    if fmt is not None:
        if fmt not in FORMATS:
            raise InputError(f"unknown report format {fmt!r}: use one of {', '.join(FORMATS)}")
        return fmt
    found = EXTENSIONS.get(path.suffix.lower())
    if found is None:
        raise InputError(f"cannot tell the format of {path.name!r}: end it in .csv, .json or .html, or give --format")
    return found


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (``batch.files.atomic``), a file for the user: the umask decides its mode.

    Raises InputError with one line (the path and the system's reason) when it cannot.
    """
    try:
        with atomic_file(path, mode=SHARED) as handle:
            handle.write(data)
    except OSError as exc:
        raise InputError(f"cannot write {path}: {exc.strerror or exc}") from None
