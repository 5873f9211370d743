"""What the web app's route modules share: the app's state, path and query parameters, JSON bodies."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from starlette.exceptions import HTTPException
from starlette.requests import Request

from batch.store import sheet as store
from batch.store.db import transaction
from batch.web import sheet

T = TypeVar("T")


@dataclass
class Memo:
    """Values read from the database (whole-batch counts, the index's progress), kept while the
    database's change cursor (``store.sheet.cursor``) stays where it was, and ``ttl`` seconds at most
    (for what changes without a job event or review: a budget, a batch's name)."""

    ttl: float = 30.0
    size: int = 512
    found: OrderedDict[Hashable, tuple[str, float, Any]] = field(default_factory=OrderedDict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def get(self, key: Hashable, cursor: str, now: float, compute: Callable[[], T]) -> T:
        """The value kept for ``key`` at ``cursor``, else ``compute()`` (then kept)."""
        with self.lock:
            kept = self.found.get(key)
        if kept is not None and kept[0] == cursor and now - kept[1] < self.ttl:
            value: T = kept[2]
            return value
        value = compute()
        with self.lock:
            self.found[key] = (cursor, now, value)
            self.found.move_to_end(key)
            while len(self.found) > self.size:
                self.found.popitem(last=False)
        return value


def web_of(request: Request) -> Any:
    """The app's ``WebState``."""
    return request.app.state.web


MAX_ID = 2**63 - 1  # the largest id a row can have (PostgreSQL's BIGINT, SQLite's INTEGER)


def is_id(value: object) -> bool:
    """A row id: a whole number (not a bool, which Python counts as one) that a BIGINT column can hold."""
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_ID


def int_param(request: Request, name: str) -> int:
    """The path's id ``name``; 404 when it is none a row could have (beyond int64: the driver would raise)."""
    try:
        value = int(request.path_params[name])
    except (KeyError, ValueError):
        raise HTTPException(404) from None
    if not is_id(value):
        raise HTTPException(404)
    return value


async def body_of(request: Request) -> dict[str, Any]:
    """The request's JSON object; 400 when it is not one."""
    try:
        body = await request.json()
    except ValueError:
        raise HTTPException(400, "the body must be JSON") from None
    if not isinstance(body, dict):
        raise HTTPException(400, "the body must be a JSON object")
    return body


def filters_of(request: Request) -> sheet.Filters:
    """The contact sheet's filters, grouping and page from the query string."""
    q = request.query_params
    try:
        page = int(q.get("page", "1"))
        per = int(q.get("per", str(sheet.DEFAULT_PER_PAGE)))
    except ValueError:
        raise HTTPException(400, "page and per are whole numbers") from None
    return sheet.Filters(state=q.get("state", ""), review=q.get("review", ""), style=q.get("style", ""),
                         text=q.get("q", ""), group=q.get("group", "item"), page=page, per_page=per)


def cursor_now(web: Any) -> str:
    """Where the database's change history stands (see ``store.sheet.cursor``)."""
    with web.sessions() as session:
        return store.cursor(session)


def index_batch(web: Any, batch_id: int, cursor: str) -> None:
    """Put the batch's jobs that the sheet's index lacks into it (new batches, reruns); once per cursor."""
    def index() -> int:
        with transaction(web.sessions) as session:
            return store.index_new_jobs(session, batch_id, sheet.describe)

    web.memo.get(("indexed", batch_id), cursor, web.clock(), index)


def page_matching(web: Any, batch_id: int, filters: sheet.Filters, cursor: str) -> int:
    """How many jobs of the batch pass the filters (counted once per cursor)."""
    query = filters.query(1)

    def count() -> int:
        with web.sessions() as session:
            return store.matching(session, batch_id, query)

    found: int = web.memo.get(("matching", batch_id, query), cursor, web.clock(), count)
    return found


WAIT_GRACE = 60.0  # a job due this long with no worker on it: no worker serves the batch


class Workers(Protocol):
    """Workers ``serve --workers`` starts for the batches the page queues work for (kept outside the web layer)."""

    def queued(self, batch_id: int) -> None:
        """The page queued jobs of ``batch_id`` (a re-run, a released pilot)."""

    def running(self, batch_id: int) -> bool:
        """True while this serve's workers run ``batch_id``."""


def queued(web: Any, batch_id: int) -> str:
    """Tell serve's workers, if any, that the page queued jobs of ``batch_id``; the hint for the page."""
    workers: Workers | None = web.workers
    if workers is None:
        return f"run them with: nanobatch resume {batch_id}"
    workers.queued(batch_id)
    return "serve's workers run them"


def waiting_line(web: Any, batch_id: int) -> str | None:
    """What to tell the reviewer when no worker has taken the batch's due jobs for a minute, or that
    serve's workers run the batch, else None."""
    now = web.clock()
    with web.sessions() as session:
        count = store.unserved(session, batch_id, now - WAIT_GRACE, now)
    if count:
        return (f"{count} job{'s' if count != 1 else ''} waiting with no worker taking them: start workers with "
                f"nanobatch resume {batch_id} (or nanobatch worker)")
    workers: Workers | None = web.workers
    if workers is not None and workers.running(batch_id):
        return f"serve's workers run batch {batch_id} (they stop when it settles)"
    return None
