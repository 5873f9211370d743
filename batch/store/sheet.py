"""The SQL behind the web app's contact sheet: its index, its pages, its counts and what changed.

A page is one query on ``sheet_entries`` (each job's item, style and rank, see ``models.SheetEntry``)
joined to the jobs it shows, cut with LIMIT/OFFSET on the order's index; counts are aggregate
queries; a live refresh asks which jobs changed since a cursor (the newest job event, review and
job ids it has seen), which costs three primary-key range reads when nothing did.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import String, cast, exists, func, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from batch.core.sources import name_inputs, shown_inputs
from batch.core.states import ACTIVE
from batch.store import reviews
from batch.store.models import Batch, Job, JobEvent, Output, Rerun, Review, SheetEntry

# (key, output name, inputs) -> (item, item label, style, root key, attempt)
Describe = Callable[[str, str, dict[str, Any]], tuple[str, str, str, str, int]]
ORDERS = {
    "item": (SheetEntry.item_rank, SheetEntry.root, SheetEntry.attempt, SheetEntry.job_id),
    "style": (SheetEntry.style_rank, SheetEntry.root, SheetEntry.attempt, SheetEntry.job_id),
    "none": (SheetEntry.root, SheetEntry.attempt, SheetEntry.job_id),
}
CHUNK = 500


@dataclass(frozen=True)
class SheetOutput:
    """One verified file of a job, with the decision that holds for it (None: unreviewed)."""

    id: int
    idx: int
    path: str
    sha256: str
    width: int
    height: int
    decision: reviews.Decision | None = None


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
    item: str = ""
    item_label: str = ""
    style: str = ""
    redoes: str = ""
    input_sources: list[str | None] | None = None  # per input, the local path the manifest wrote (None: a URL)

    @property
    def shown_inputs(self) -> list[str]:
        """Each input as the manifest wrote it (a local photo's path, else its URL)."""
        return shown_inputs([str(u) for u in self.inputs.get("image_urls", [])], self.input_sources)

    @property
    def shown_error(self) -> str | None:
        """The error, naming local inputs by the path the manifest wrote."""
        return self.error and name_inputs(self.error, self.inputs.get("image_urls", []), self.input_sources)


@dataclass(frozen=True)
class PageQuery:
    """Which jobs a page shows: filters (empty: any), the grouping, and the slice."""

    state: str = ""
    review: str = ""
    style: str = ""
    text: str = ""
    group: str = "item"
    offset: int = 0
    limit: int = 240


def item_hash(item: str) -> str:
    """The indexed stand-in for an item (its input URLs can be long)."""
    return hashlib.sha256(item.encode("utf-8")).hexdigest()


def _ranks(session: Session, batch_id: int, column: Any, rank: Any, values: Sequence[str]) -> dict[str, int]:
    found: dict[str, int] = {}
    for start in range(0, len(values), CHUNK):
        rows = session.execute(select(column, func.min(rank)).where(SheetEntry.batch_id == batch_id,
                                                                     column.in_(values[start:start + CHUNK]))
                               .group_by(column))
        found.update({value: int(n) for value, n in rows.all()})
    return found


def index_new_jobs(session: Session, batch_id: int, describe: Describe) -> int:
    """Add the batch's jobs that ``sheet_entries`` lacks; returns how many.

    Two requests may index the same jobs at once: the one that loses leaves it to the other.
    """
    try:
        with session.begin_nested():
            return _index_new_jobs(session, batch_id, describe)
    except IntegrityError:
        return 0


def _index_new_jobs(session: Session, batch_id: int, describe: Describe) -> int:
    have = session.scalar(select(func.count()).select_from(SheetEntry).where(SheetEntry.batch_id == batch_id))
    total = session.scalar(select(func.count()).select_from(Job).where(Job.batch_id == batch_id))
    if have == total:  # two index-only counts: jobs committed out of id order are found all the same
        return 0
    indexed = select(SheetEntry.job_id).where(SheetEntry.batch_id == batch_id)
    jobs = session.execute(select(Job.id, Job.key, Job.output_name, Job.inputs)
                           .where(Job.batch_id == batch_id, Job.id.not_in(indexed)).order_by(Job.id)).all()
    if not jobs:
        return 0
    described = [(j.id, *describe(j.key, j.output_name, j.inputs or {})) for j in jobs]
    hashes = list(dict.fromkeys(item_hash(d[1]) for d in described))
    styles = list(dict.fromkeys(d[3] for d in described))
    item_ranks = _ranks(session, batch_id, SheetEntry.item_hash, SheetEntry.item_rank, hashes)
    style_ranks = _ranks(session, batch_id, SheetEntry.style, SheetEntry.style_rank, styles)
    tops = session.execute(select(func.max(SheetEntry.item_rank), func.max(SheetEntry.style_rank))
                           .where(SheetEntry.batch_id == batch_id)).one()
    next_item, next_style = (tops[0] if tops[0] is not None else -1) + 1, (tops[1] if tops[1] is not None else -1) + 1
    rows = []
    for job_id, item, label, style, root, attempt in described:
        digest = item_hash(item)
        if digest not in item_ranks:
            item_ranks[digest], next_item = next_item, next_item + 1
        if style not in style_ranks:
            style_ranks[style], next_style = next_style, next_style + 1
        rows.append({"job_id": job_id, "batch_id": batch_id, "item_hash": digest, "item": item, "item_label": label,
                     "item_rank": item_ranks[digest], "style": style[:300], "style_rank": style_ranks[style],
                     "root": root[:300], "attempt": attempt})
    for start in range(0, len(rows), CHUNK):
        session.execute(insert(SheetEntry), rows[start:start + CHUNK])
    return len(rows)


def _review_clause(review: str) -> Any:
    current = reviews.current_of_output()
    if review == "unreviewed":
        wanted = current.is_(None) | (current == reviews.CLEARED)
        return Job.state.in_(reviews.REVIEWABLE) & exists(select(Output.id).where(Output.job_id == Job.id, wanted))
    return exists(select(Output.id).where(Output.job_id == Job.id, current == review))


def _filtered(batch_id: int, q: PageQuery) -> Any:
    stmt = select(SheetEntry.job_id).join(Job, Job.id == SheetEntry.job_id).where(SheetEntry.batch_id == batch_id)
    if q.state:
        stmt = stmt.where(Job.state == q.state)
    if q.style:
        stmt = stmt.where(SheetEntry.style == q.style)
    if q.review:
        stmt = stmt.where(_review_clause(q.review))
    needle = q.text.strip().lower()
    if needle:
        like = f"%{needle.replace('%', '').replace('_', '')}%"
        stmt = stmt.where(func.lower(Job.key).like(like) | func.lower(cast(Job.inputs, String)).like(like))
    return stmt


def page_ids(session: Session, batch_id: int, q: PageQuery) -> list[int]:
    """The ids of the jobs on the page, in the sheet's order."""
    order = ORDERS.get(q.group, ORDERS["item"])
    stmt = _filtered(batch_id, q).order_by(*order).offset(q.offset).limit(q.limit)
    return list(session.scalars(stmt))


def matching(session: Session, batch_id: int, q: PageQuery) -> int:
    """How many jobs pass the filters."""
    return int(session.scalar(select(func.count()).select_from(_filtered(batch_id, q).subquery())) or 0)


def _files(session: Session, job_ids: Sequence[int]) -> dict[int, list[SheetOutput]]:
    decided = reviews.of_outputs(session, job_ids)
    files: dict[int, list[SheetOutput]] = {}
    rows = session.execute(select(Output.job_id, Output.id, Output.idx, Output.path, Output.sha256, Output.width,
                                  Output.height).where(Output.job_id.in_(job_ids)).order_by(Output.job_id, Output.idx))
    for r in rows.all():
        files.setdefault(r.job_id, []).append(SheetOutput(r.id, r.idx, r.path, r.sha256, r.width, r.height,
                                                          decided.get((r.job_id, r.idx))))
    return files


def sheet_jobs(session: Session, job_ids: Sequence[int]) -> list[SheetJob]:
    """These jobs (in the order given) with their files, decisions, index entry and the job each redoes."""
    ids = list(job_ids)
    if not ids:
        return []
    files = _files(session, ids)
    links = dict(session.execute(select(Rerun.job_id, Job.key).join(Job, Job.id == Rerun.rerun_of)
                                 .where(Rerun.job_id.in_(ids))).all())
    rerun_of = dict(session.execute(select(Rerun.job_id, Rerun.rerun_of)
                                    .where(Rerun.job_id.in_(ids))).all())
    rows = {j.id: j for j in session.execute(
        select(Job.id, Job.key, Job.state, Job.inputs, Job.input_sources, Job.output_name, Job.error,
               SheetEntry.item_hash, SheetEntry.item_label, SheetEntry.style)
        .join(SheetEntry, SheetEntry.job_id == Job.id).where(Job.id.in_(ids))).all()}
    found = []
    for job_id in ids:
        j = rows.get(job_id)
        if j is None:
            continue
        outs = files.get(job_id, [])
        first = outs[0].decision if outs else None
        found.append(SheetJob(j.id, j.key, j.state, j.inputs or {}, j.output_name, j.error, outs, first,
                              rerun_of.get(job_id), j.item_hash, j.item_label, j.style, links.get(job_id, ""),
                              j.input_sources))
    return found


def attempts(session: Session, batch_id: int, job_id: int) -> list[int]:
    """Every attempt at the job's key in the batch (the original and its reruns), oldest first."""
    root = select(SheetEntry.root).where(SheetEntry.job_id == job_id, SheetEntry.batch_id == batch_id)
    return list(session.scalars(select(SheetEntry.job_id).where(SheetEntry.batch_id == batch_id,
                                                                 SheetEntry.root == root.scalar_subquery())
                                .order_by(SheetEntry.attempt, SheetEntry.job_id)))


def styles(session: Session, batch_id: int) -> dict[str, int]:
    """Each style of the batch (first-seen order) and how many jobs it has."""
    rows = session.execute(select(SheetEntry.style, func.min(SheetEntry.style_rank), func.count())
                           .where(SheetEntry.batch_id == batch_id).group_by(SheetEntry.style))
    return {style: int(n) for style, _, n in sorted(rows.all(), key=lambda r: r[1])}


def group_sizes(session: Session, batch_id: int, group: str, keys: Sequence[str]) -> dict[str, int]:
    """How many outputs each of these groups (item hashes or styles) has in the whole batch."""
    column = SheetEntry.style if group == "style" else SheetEntry.item_hash
    stmt = (select(column, func.count(Output.id)).join(Output, Output.job_id == SheetEntry.job_id)
            .where(SheetEntry.batch_id == batch_id))
    if group != "none":
        stmt = stmt.where(column.in_(list(keys)))
    rows = session.execute(stmt.group_by(column)).all()
    return {"": sum(int(n) for _, n in rows)} if group == "none" else {k: int(n) for k, n in rows}


def group_outputs(session: Session, batch_id: int, group: str, key: str) -> list[tuple[int, int, int, str | None]]:
    """(output id, job id, idx, current decision) of every reviewable output in one group of the whole batch."""
    current = reviews.current_of_output()
    stmt = (select(Output.id, Output.job_id, Output.idx, current).join(Job, Job.id == Output.job_id)
            .join(SheetEntry, SheetEntry.job_id == Job.id)
            .where(SheetEntry.batch_id == batch_id, Job.state.in_(reviews.REVIEWABLE)))
    if group == "style":
        stmt = stmt.where(SheetEntry.style == key)
    elif group == "item":
        stmt = stmt.where(SheetEntry.item_hash == key)
    rows = session.execute(stmt.order_by(Output.job_id, Output.idx)).all()
    return [(o, j, i, None if d == reviews.CLEARED else d) for o, j, i, d in rows]


def outputs_in_batch(session: Session, batch_id: int, output_ids: Sequence[int]) -> dict[int, tuple[int, int]]:
    """``{output id: (job id, idx)}`` for those of ``output_ids`` that belong to reviewable jobs of the batch."""
    rows = session.execute(select(Output.id, Output.job_id, Output.idx).join(Job, Job.id == Output.job_id)
                           .where(Output.id.in_(list(output_ids)), Job.batch_id == batch_id,
                                  Job.state.in_(reviews.REVIEWABLE)))
    return {o: (j, i) for o, j, i in rows.all()}


def cursor(session: Session) -> str:
    """Where the database's change history stands: its newest job event, review and job ids."""
    parts = [session.scalar(select(func.max(column))) or 0 for column in (JobEvent.id, Review.id, Job.id)]
    return ".".join(str(p) for p in parts)


def changed_since(session: Session, batch_id: int, since: str) -> set[int] | None:
    """The batch's jobs that changed after ``since`` (a ``cursor``); None when the cursor is not one."""
    try:
        event, review, job = (int(p) for p in since.split("."))
    except ValueError:
        return None
    found = set(session.scalars(select(JobEvent.job_id).join(Job, Job.id == JobEvent.job_id)
                                .where(JobEvent.id > event, Job.batch_id == batch_id)))
    found.update(session.scalars(select(Review.job_id).join(Job, Job.id == Review.job_id)
                                 .where(Review.id > review, Job.batch_id == batch_id)))
    found.update(session.scalars(select(Job.id).where(Job.id > job, Job.batch_id == batch_id)))
    return found


def unserved(session: Session, batch_id: int, before: float, now: float) -> int:
    """How many of the batch's jobs were due before ``before`` and no worker holds (none has taken them)."""
    active = [state.value for state in ACTIVE]
    return int(session.scalar(select(func.count()).select_from(Job).where(
        Job.batch_id == batch_id, Job.state.in_(active), Job.next_action_at < before,
        Job.lease_until.is_(None) | (Job.lease_until < now))) or 0)


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
