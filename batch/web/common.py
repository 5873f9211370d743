"""What the web app's route modules share: the app's state, path and query parameters, JSON bodies."""

from __future__ import annotations

from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request

from batch.store import sheet as store
from batch.store.db import transaction
from batch.web import sheet


def web_of(request: Request) -> Any:
    """The app's ``WebState``."""
    return request.app.state.web


def int_param(request: Request, name: str) -> int:
    """A whole-number path parameter; 404 when it is not one."""
    try:
        return int(request.path_params[name])
    except (KeyError, ValueError):
        raise HTTPException(404) from None


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


def index_batch(web: Any, batch_id: int) -> None:
    """Put the batch's jobs that the sheet's index lacks into it (new batches, reruns)."""
    with transaction(web.sessions) as session:
        store.index_new_jobs(session, batch_id, sheet.describe)
