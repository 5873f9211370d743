"""The contact sheet as pure logic: a job's item and style, the filters, and a page's groups.

A job's *item* is its input image(s): jobs of one product share them; its heading is the item's
name from the manifest as the output name carries it (``{sku}/{style}``: the folder), else the
part of the id before its style, else the input's file name. Its *style* is the last part of its
output name, else what follows the last ``-`` of its id (``{sku}-{style}``, the default id); a
rerun (``~rN``) keeps the style it redoes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any
from urllib.parse import urlsplit

from batch.commands.rerun import attempt_name
from batch.store.sheet import PageQuery, SheetJob

GROUPINGS = ("item", "style", "none")
REVIEW_FILTERS = ("approved", "rejected", "unreviewed")
DEFAULT_PER_PAGE = 240
MAX_PER_PAGE = 2000


def style_name(key: str, output_name: str) -> str:
    """The job's style name (see the module's docstring)."""
    path = PurePosixPath(output_name)
    if len(path.parts) > 1:
        return attempt_name(path.stem)[0]
    root = attempt_name(key)[0]
    return root.rsplit("-", 1)[-1] if "-" in root else root


def _item_name(key: str, output_name: str) -> str | None:
    path = PurePosixPath(output_name)
    if len(path.parts) > 1:
        return str(path.parent)
    root = attempt_name(key)[0]
    return root.rsplit("-", 1)[0] if "-" in root else None


def describe(key: str, output_name: str, inputs: dict[str, Any]) -> tuple[str, str, str, str, int]:
    """(item, item heading, style, root key, attempt) of a job, as ``store.sheet`` indexes it.

    The item is its name when the output name or id carries one, else its input images.
    """
    urls = [str(u) for u in inputs.get("image_urls", [])]
    root, attempt = attempt_name(key)
    name = _item_name(key, output_name)
    if name is not None:
        return name, name, style_name(key, output_name), root, attempt
    first = urls[0] if urls else root
    label = PurePosixPath(urlsplit(first).path).name or first
    return "\n".join(urls) or root, label, style_name(key, output_name), root, attempt


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

    @property
    def per(self) -> int:
        """The page size, within bounds."""
        return max(1, min(self.per_page, MAX_PER_PAGE))

    @property
    def grouping(self) -> str:
        """The grouping, a known one."""
        return self.group if self.group in GROUPINGS else "item"

    def query(self, page: int) -> PageQuery:
        """The store's query for page ``page`` (1-based)."""
        review = self.review if self.review in REVIEW_FILTERS else ""
        return PageQuery(self.state, review, self.style, self.text, self.grouping, (page - 1) * self.per, self.per)

    def pages(self, matching: int) -> tuple[int, int]:
        """(the page to show, the number of pages) for ``matching`` jobs."""
        pages = max(1, math.ceil(matching / self.per))
        return max(1, min(self.page, pages)), pages


@dataclass
class Group:
    """Jobs under one heading (an item or a style) on a page; ``size``: its outputs in the whole batch."""

    key: str
    label: str
    first_job: SheetJob
    jobs: list[SheetJob] = field(default_factory=list)
    size: int = 0


@dataclass(frozen=True)
class Page:
    """One page of the filtered, grouped sheet."""

    groups: list[Group]
    shown: int
    matching: int
    page: int
    pages: int


def group_key(job: SheetJob, grouping: str) -> str:
    """The key of the job's group under ``grouping`` (its item's hash, its style, or one group)."""
    if grouping == "item":
        return job.item
    if grouping == "style":
        return job.style
    return ""


def build_page(jobs: list[SheetJob], filters: Filters, matching: int, page: int, pages: int) -> Page:
    """Group a page's jobs (already in the sheet's order) under their headings."""
    groups: list[Group] = []
    for job in jobs:
        key = group_key(job, filters.grouping)
        if not groups or groups[-1].key != key:
            label = job.item_label if filters.grouping == "item" else key
            groups.append(Group(key, label, job))
        groups[-1].jobs.append(job)
    return Page(groups, len(jobs), matching, page, pages)
