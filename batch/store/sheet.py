"""The SQL behind the web app's contact sheet: a batch's jobs with their outputs, decisions and reruns."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from batch.core.sources import name_inputs, shown_inputs
from batch.store import reviews
from batch.store.models import Batch, Job, Output


@dataclass(frozen=True)
class SheetOutput:
    """One verified file of a job."""

    id: int
    idx: int
    path: str
    sha256: str
    width: int
    height: int


@dataclass(frozen=True)
class SheetJob:
    """A job as the contact sheet shows it."""

    id: int
    key: str
    state: str
    inputs: dict[str, Any]
    output_name: str
    error: str | None
    outputs: list[SheetOutput]
    decision: reviews.Decision | None
    rerun_of: int | None
    input_sources: list[str | None] | None = None

    @property
    def shown_inputs(self) -> list[str]:
        """Each input as the manifest wrote it (a local photo's path, else its URL)."""
        return shown_inputs([str(u) for u in self.inputs.get("image_urls", [])], self.input_sources)

    @property
    def shown_error(self) -> str | None:
        """The error, naming local inputs by the path the manifest wrote."""
        return self.error and name_inputs(self.error, self.inputs.get("image_urls", []), self.input_sources)


def sheet_jobs(session: Session, batch_id: int) -> list[SheetJob]:
    """Every job of the batch, in id order, with its files, current decision and the job it redoes."""
    files: dict[int, list[SheetOutput]] = {}
    rows = session.execute(select(Output.job_id, Output.id, Output.idx, Output.path, Output.sha256, Output.width,
                                  Output.height).join(Job, Job.id == Output.job_id)
                           .where(Job.batch_id == batch_id).order_by(Output.job_id, Output.idx))
    for row in rows.all():
        files.setdefault(row.job_id, []).append(SheetOutput(row.id, row.idx, row.path, row.sha256, row.width,
                                                            row.height))
    decided = reviews.latest(session, batch_id)
    links = reviews.rerun_links(session, batch_id)
    jobs = session.execute(select(Job.id, Job.key, Job.state, Job.inputs, Job.output_name, Job.error,
                                  Job.input_sources).where(Job.batch_id == batch_id).order_by(Job.id)).all()
    return [SheetJob(j.id, j.key, j.state, j.inputs, j.output_name, j.error, files.get(j.id, []),
                     decided.get(j.id), links.get(j.id), j.input_sources) for j in jobs]


def output_file(session: Session, output_id: int) -> tuple[str, int, str] | None:
    """A recorded output's path, size in bytes and sha256, or None."""
    row = session.execute(select(Output.path, Output.bytes, Output.sha256).where(Output.id == output_id)).first()
    return (row[0], row[1], row[2]) if row else None


def job_input_url(session: Session, job_id: int, n: int) -> tuple[str, dict[str, Any] | None] | None:
    """The ``n``-th input image URL of a job with its batch's storage settings (for a bucket's endpoint), or None."""
    found = session.execute(select(Job.inputs, Batch.options).join(Batch, Batch.id == Job.batch_id)
                            .where(Job.id == job_id)).first()
    urls = list(((found[0] if found else None) or {}).get("image_urls", []))
    if not 0 <= n < len(urls):
        return None
    storage = ((found[1] if found else None) or {}).get("storage")
    return str(urls[n]), storage


def batch_events(session: Session, batch_id: int) -> list[tuple[float | None, str]]:
    """What happened to the batch as a whole, with the reason: stopped (parked) and cancelled."""
    batch = session.get(Batch, batch_id)
    if batch is None:
        return []
    found: list[tuple[float | None, str]] = []
    if batch.options.get("parked"):
        found.append((batch.options.get("parked_at"), f"stopped: {batch.options['parked']}"))
    if batch.cancelled_at is not None:
        found.append((batch.cancelled_at, "cancelled by a person (nanobatch cancel)"))
    return found
