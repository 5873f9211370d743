"""The contact sheet as pure logic: a job's item and style, filters, groups and pages.

A job's *item* is its input image(s): jobs of one product share them. Its *style* is the last
part of its output name (``{sku}/{style}``, the usual layout), else what follows the last ``-``
of its id (``{sku}-{style}``, the default id); a rerun (``~rN``) keeps the style it redoes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import PurePosixPath

from batch.commands.rerun import attempt_name
from batch.store.sheet import SheetJob

GROUPINGS = ("item", "style", "none")
REVIEW_FILTERS = ("approved", "rejected", "unreviewed")
DEFAULT_PER_PAGE = 240
MAX_PER_PAGE = 2000


def style_of(job: SheetJob) -> str:
    """The job's style name (see the module's docstring)."""
    path = PurePosixPath(job.output_name)
    if len(path.parts) > 1:
        return attempt_name(path.stem)[0]
    root = attempt_name(job.key)[0]
    return root.rsplit("-", 1)[-1] if "-" in root else root


def item_of(job: SheetJob) -> str:
    """The job's item: its input image URLs (one line each)."""
    return "\n".join(str(u) for u in job.inputs.get("image_urls", [])) or attempt_name(job.key)[0]


@dataclass(frozen=True)
class Filters:
    """What the sheet shows: job state, review decision, style, a text search; grouping and page."""

    state: str = ""
    review: str = ""
    style: str = ""
    text: str = ""
    group: str = "item"
    page: int = 1
    per_page: int = DEFAULT_PER_PAGE

    def keeps(self, job: SheetJob) -> bool:
        """True when the job passes every filter."""
        if self.state and job.state != self.state:
            return False
        if self.review and _review(job) != self.review:
            return False
        if self.style and style_of(job) != self.style:
            return False
        needle = self.text.strip().lower()
        return (not needle or needle in job.key.lower() or needle in str(job.inputs.get("prompt", "")).lower()
                or any(needle in shown.lower() for shown in job.shown_inputs))


def _review(job: SheetJob) -> str:
    return job.decision.decision if job.decision else "unreviewed"


@dataclass
class Group:
    """Jobs under one heading (an item or a style) on a page."""

    key: str
    label: str
    first_job: SheetJob
    jobs: list[SheetJob] = field(default_factory=list)


@dataclass(frozen=True)
class Page:
    """One page of the filtered, grouped sheet."""

    groups: list[Group]
    shown: int
    matching: int
    page: int
    pages: int


def _group_key(job: SheetJob, grouping: str) -> str:
    if grouping == "item":
        return item_of(job)
    if grouping == "style":
        return style_of(job)
    return ""


def paginate(jobs: list[SheetJob], filters: Filters) -> Page:
    """Filter, order by group (then by the job each redoes, so a rerun sits beside its original), and cut a page."""
    kept = [j for j in jobs if filters.keeps(j)]
    grouping = filters.group if filters.group in GROUPINGS else "item"
    order = {key: n for n, key in enumerate(dict.fromkeys(_group_key(j, grouping) for j in jobs))}
    kept.sort(key=lambda j: (order[_group_key(j, grouping)], attempt_name(j.key)[0], attempt_name(j.key)[1], j.id))
    per = max(1, min(filters.per_page, MAX_PER_PAGE))
    pages = max(1, math.ceil(len(kept) / per))
    page = max(1, min(filters.page, pages))
    groups: list[Group] = []
    for job in kept[(page - 1) * per: page * per]:
        key = _group_key(job, grouping)
        if not groups or groups[-1].key != key:
            label = _item_label(job) if grouping == "item" else key
            groups.append(Group(key, label, job))
        groups[-1].jobs.append(job)
    return Page(groups, sum(len(g.jobs) for g in groups), len(kept), page, pages)


def _item_label(job: SheetJob) -> str:
    """An item's heading: the file name of its (last) input as the manifest wrote it."""
    return ("\n".join(job.shown_inputs) or attempt_name(job.key)[0]).rsplit("/", 1)[-1]


def styles(jobs: list[SheetJob]) -> list[str]:
    """Every style in the batch, in first-seen order."""
    return list(dict.fromkeys(style_of(j) for j in jobs))
