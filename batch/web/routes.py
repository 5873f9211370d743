"""The web app's pages and JSON endpoints. Reads go through ``batch.store``; writes through ``batch.commands``."""

from __future__ import annotations

import mimetypes
from collections.abc import Iterator
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from batch.commands import rerun as reruns
from batch.core.progress import RateTracker, format_eta, format_rate, iso_utc
from batch.core.states import ACTIVE, JobState
from batch.errors import InputError
from batch.files.recorded import CHUNK, open_recorded
from batch.store import sheet as store
from batch.store.queries import BatchStatus, batch_status, list_batches
from batch.store.reviews import output_counts
from batch.web import review_routes, sheet
from batch.web.common import (
    body_of,
    cursor_now,
    filters_of,
    index_batch,
    int_param,
    page_matching,
    queued,
    waiting_line,
    web_of,
)
from batch.web.thumbcache import SIZES

BATCH_LIST_LIMIT = 100


_web = web_of


_int = int_param


def _counts(web: Any, batch_id: int) -> tuple[BatchStatus | None, dict[str, int]]:
    """The batch's aggregate counts: by state, spend, decisions on outputs."""
    status = batch_status(web.sessions, batch_id)
    with web.sessions() as session:
        return status, output_counts(session, batch_id)


def _summary(request: Request, batch_id: int, cursor: str | None = None) -> dict[str, Any]:
    """One batch's progress, spend, reviews and events, as the batches page shows it (its counts
    read again only once the database changed, see ``Memo``)."""
    web = _web(request)
    cursor = cursor or cursor_now(web)
    status, outputs = web.memo.get(("summary", batch_id), cursor, web.clock(), lambda: _counts(web, batch_id))
    with web.sessions() as session:  # the batch's own row changes without a job event: read each time
        events = [f"{iso_utc(at) or ''} {text}".strip() for at, text in store.batch_events(session, batch_id)]
    if status is None:
        raise HTTPException(404, f"no batch {batch_id}")
    tracker = web.trackers.setdefault(batch_id, RateTracker(status.total))
    est = tracker.observe(status.finished, web.clock(), status.total)
    active = sum(n for s, n in status.counts.items() if JobState(s) in ACTIVE)
    return {"id": batch_id, "name": status.name, "total": status.total, "finished": status.finished,
            "succeeded": status.succeeded, "failed": status.failed, "counts": status.counts, "active": active,
            "cost_usd": round(status.cost, 4), "budget_usd": status.budget_usd, "reviews": status.reviews or {},
            "rate": format_rate(est.rate), "eta": format_eta(est.eta) if active else "-", "events": events,
            "pilot": status.pilot, "outputs": outputs, "workers": waiting_line(web, batch_id)}


def _styles(web: Any, batch_id: int) -> dict[str, int]:
    with web.sessions() as session:
        return store.styles(session, batch_id)


def _render(request: Request, name: str, context: dict[str, Any]) -> Response:
    response: Response = request.app.state.templates.TemplateResponse(request, name, context)
    return response


def batches_page(request: Request) -> Response:
    """The list of batches; the page polls ``/api/batches`` to stay current."""
    web = _web(request)
    rows = [_summary(request, b.batch_id) for b in list_batches(web.sessions, limit=BATCH_LIST_LIMIT)]
    return _render(request, "batches.html", {"batches": rows, "csrf": web.csrf})


def batches_api(request: Request) -> Response:
    """Every recent batch's summary, as JSON."""
    web = _web(request)
    return JSONResponse([_summary(request, b.batch_id) for b in list_batches(web.sessions, limit=BATCH_LIST_LIMIT)])


def progress_api(request: Request) -> Response:
    """One batch's summary, as JSON (the contact sheet polls it while jobs run)."""
    return JSONResponse(_summary(request, _int(request, "batch_id")))


def sheet_page(request: Request) -> Response:
    """A batch's contact sheet (``?fragment=1``: only the grid)."""
    web = _web(request)
    batch_id = _int(request, "batch_id")
    filters = filters_of(request)
    cursor = cursor_now(web)  # before the reads: a change after it is sent again, never missed
    summary = _summary(request, batch_id, cursor)
    index_batch(web, batch_id, cursor)
    matching = page_matching(web, batch_id, filters, cursor)
    number, pages = filters.pages(matching)
    with web.sessions() as session:
        jobs = store.sheet_jobs(session, store.page_ids(session, batch_id, filters.query(number)))
        page = sheet.build_page(jobs, filters, matching, number, pages)
        sizes = store.group_sizes(session, batch_id, filters.grouping, [g.key for g in page.groups])
    styles = web.memo.get(("styles", batch_id), cursor, web.clock(), lambda: _styles(web, batch_id))
    counts = summary["outputs"]
    for group in page.groups:
        group.size = sizes.get(group.key, 0)
    context = {"batch": summary, "page": page, "filters": filters, "styles": styles, "counts": counts,
               "states": [s.value for s in JobState], "reviews": sheet.REVIEW_FILTERS, "csrf": web.csrf,
               "groupings": sheet.GROUPINGS, "cursor": cursor}
    name = "_grid.html" if request.query_params.get("fragment") else "sheet.html"
    return _render(request, name, context)


def _size(request: Request) -> str:
    size = request.query_params.get("s", "sm")
    return size if size in SIZES else "sm"


def _jpeg(path: Any) -> Response:
    if path is None:
        raise HTTPException(404, "no picture")
    return FileResponse(path, media_type="image/jpeg", headers={"Cache-Control": "max-age=86400"})


def _recorded_output(request: Request) -> tuple[str, int, str]:
    """(path, bytes, sha256) of the output the request names; 404 when the database lists no such output."""
    with _web(request).sessions() as session:
        found = store.output_file(session, _int(request, "output_id"))
    if found is None:
        raise HTTPException(404, "no such output")
    return found


def output_thumb(request: Request) -> Response:
    """A cached JPEG thumbnail of a recorded output."""
    path, size, sha256 = _recorded_output(request)
    return _jpeg(_web(request).thumbs.output(path, size, sha256, _size(request)))


def input_thumb(request: Request) -> Response:
    """A cached JPEG thumbnail of a job's input image."""
    web = _web(request)
    with web.sessions() as session:
        found = store.job_input_url(session, _int(request, "job_id"), _int(request, "n"))
    if found is None:
        raise HTTPException(404, "no such input")
    url, storage = found
    return _jpeg(web.thumbs.input(url, _size(request), storage))


def output_file(request: Request) -> Response:
    """A recorded output file itself: only files the database lists, and only while the file at that
    path is a regular file (not a link) of the recorded size, read from the descriptor checked."""
    path, size, _ = _recorded_output(request)
    handle = open_recorded(path, size)
    if handle is None:
        raise HTTPException(404, "the file is gone or no longer the one recorded")

    def chunks() -> Iterator[bytes]:
        with handle:
            yield from iter(lambda: handle.read(CHUNK), b"")

    media = mimetypes.guess_type(path)[0] or "application/octet-stream"
    return StreamingResponse(chunks(), media_type=media, headers={"Content-Length": str(size)})


def _rerun(web: Any, batch_id: int, confirm: bool, prompt_append: str | None) -> dict[str, Any]:
    planned = reruns.plan(web.sessions, web.prices, batch_id, prompt_append)
    made = reruns.rerun(web.sessions, batch_id, now=web.clock(), prompt_append=prompt_append) if confirm else []
    return {"jobs": len(planned.keys), "cost_usd": round(planned.cost_usd, 4), "message": planned.line(),
            "queued": len(made), "hint": queued(web, batch_id) if made else None}


async def rerun_api(request: Request) -> Response:
    """``{"confirm": false}``: what rerunning the rejected jobs would cost; ``true``: queue them."""
    web = _web(request)
    batch_id = _int(request, "batch_id")
    body = await body_of(request)
    append = body.get("prompt_append") or None
    if append is not None and not isinstance(append, str):
        raise HTTPException(400, "prompt_append is text")
    try:
        answer = await run_in_threadpool(_rerun, web, batch_id, bool(body.get("confirm")), append)
    except InputError as exc:
        raise HTTPException(404, str(exc)) from None
    return JSONResponse(answer)


ROUTES = [
    *review_routes.ROUTES,
    Route("/", batches_page),
    Route("/api/batches", batches_api),
    Route("/api/batches/{batch_id:int}", progress_api),
    Route("/api/batches/{batch_id:int}/rerun", rerun_api, methods=["POST"]),
    Route("/batch/{batch_id:int}", sheet_page),
    Route("/thumb/out/{output_id:int}", output_thumb),
    Route("/thumb/in/{job_id:int}/{n:int}", input_thumb),
    Route("/files/{output_id:int}", output_file),
]
