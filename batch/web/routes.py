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
from batch.commands.review import decide_ids
from batch.core.progress import RateTracker, format_eta, format_rate, iso_utc
from batch.core.states import ACTIVE, JobState
from batch.errors import InputError
from batch.files.recorded import CHUNK, open_recorded
from batch.store import sheet as store
from batch.store.queries import batch_status, list_batches
from batch.store.reviews import DECISIONS
from batch.web import sheet
from batch.web.thumbcache import SIZES

BATCH_LIST_LIMIT = 100
MAX_ID = 2**63 - 1  # the largest id a row can have (PostgreSQL's BIGINT, SQLite's INTEGER)


def _web(request: Request) -> Any:
    return request.app.state.web


def _is_id(value: object) -> bool:
    """A row id: a whole number (not a bool, which Python counts as one) that a BIGINT column can hold."""
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_ID


def _int(request: Request, name: str) -> int:
    """The path's id ``name``; 404 when it is none a row could have (beyond int64: the driver would raise)."""
    try:
        value = int(request.path_params[name])
    except (KeyError, ValueError):
        raise HTTPException(404) from None
    if not _is_id(value):
        raise HTTPException(404)
    return value


def _summary(request: Request, batch_id: int) -> dict[str, Any]:
    """One batch's progress, spend, reviews and events, as the batches page shows it."""
    web = _web(request)
    status = batch_status(web.sessions, batch_id)
    if status is None:
        raise HTTPException(404, f"no batch {batch_id}")
    tracker = web.trackers.setdefault(batch_id, RateTracker(status.total))
    est = tracker.observe(status.finished, web.clock(), status.total)
    active = sum(n for s, n in status.counts.items() if JobState(s) in ACTIVE)
    with web.sessions() as session:
        events = [f"{iso_utc(at) or ''} {text}".strip() for at, text in store.batch_events(session, batch_id)]
    return {"id": batch_id, "name": status.name, "total": status.total, "finished": status.finished,
            "succeeded": status.succeeded, "failed": status.failed, "counts": status.counts, "active": active,
            "cost_usd": round(status.cost, 4), "budget_usd": status.budget_usd, "reviews": status.reviews or {},
            "rate": format_rate(est.rate), "eta": format_eta(est.eta) if active else "-", "events": events,
            "pilot": status.pilot}


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


def _filters(request: Request) -> sheet.Filters:
    q = request.query_params
    try:
        page = int(q.get("page", "1"))
        per = int(q.get("per", str(sheet.DEFAULT_PER_PAGE)))
    except ValueError:
        raise HTTPException(400, "page and per are whole numbers") from None
    return sheet.Filters(state=q.get("state", ""), review=q.get("review", ""), style=q.get("style", ""),
                         text=q.get("q", ""), group=q.get("group", "item"), page=page, per_page=per)


def sheet_page(request: Request) -> Response:
    """A batch's contact sheet (``?fragment=1``: only the grid, for the page's live refresh)."""
    web = _web(request)
    batch_id = _int(request, "batch_id")
    summary = _summary(request, batch_id)
    with web.sessions() as session:
        jobs = store.sheet_jobs(session, batch_id)
    filters = _filters(request)
    page = sheet.paginate(jobs, filters)
    keys = {j.id: j.key for j in jobs}
    context = {"batch": summary, "page": page, "filters": filters, "styles": sheet.styles(jobs), "keys": keys,
               "states": [s.value for s in JobState], "reviews": sheet.REVIEW_FILTERS, "csrf": web.csrf,
               "groupings": sheet.GROUPINGS, "query": dict(request.query_params)}
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


async def _body(request: Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except ValueError:
        raise HTTPException(400, "the body must be JSON") from None
    if not isinstance(body, dict):
        raise HTTPException(400, "the body must be a JSON object")
    return body


async def review_api(request: Request) -> Response:
    """Record one decision on jobs: ``{"job_ids": [...], "decision": "approved"|"rejected", "note": ...}``."""
    web = _web(request)
    batch_id = _int(request, "batch_id")
    body = await _body(request)
    ids, decision, note = body.get("job_ids"), body.get("decision"), body.get("note")
    if not isinstance(ids, list) or not all(_is_id(i) for i in ids) or decision not in DECISIONS:
        raise HTTPException(400, "job_ids (a list of job ids) and decision (approved or rejected) are needed")
    if note is not None and not isinstance(note, str):
        raise HTTPException(400, "note is text")
    try:
        count = await run_in_threadpool(decide_ids, web.sessions, batch_id, ids, decision, now=web.clock(),
                                        note=note, who=web.reviewer)
    except InputError as exc:
        raise HTTPException(404, str(exc)) from None
    return JSONResponse({"recorded": count, "decision": decision})


def _rerun(web: Any, batch_id: int, confirm: bool, prompt_append: str | None) -> dict[str, Any]:
    planned = reruns.plan(web.sessions, web.prices, batch_id, prompt_append)
    made = reruns.rerun(web.sessions, batch_id, now=web.clock(), prompt_append=prompt_append) if confirm else []
    return {"jobs": len(planned.keys), "cost_usd": round(planned.cost_usd, 4), "message": planned.line(),
            "queued": len(made), "hint": f"run them with: nanobatch resume {batch_id}" if made else None}


async def rerun_api(request: Request) -> Response:
    """``{"confirm": false}``: what rerunning the rejected jobs would cost; ``true``: queue them."""
    web = _web(request)
    batch_id = _int(request, "batch_id")
    body = await _body(request)
    append = body.get("prompt_append") or None
    if append is not None and not isinstance(append, str):
        raise HTTPException(400, "prompt_append is text")
    try:
        answer = await run_in_threadpool(_rerun, web, batch_id, bool(body.get("confirm")), append)
    except InputError as exc:
        raise HTTPException(404, str(exc)) from None
    return JSONResponse(answer)


ROUTES = [
    Route("/", batches_page),
    Route("/api/batches", batches_api),
    Route("/api/batches/{batch_id:int}", progress_api),
    Route("/api/batches/{batch_id:int}/review", review_api, methods=["POST"]),
    Route("/api/batches/{batch_id:int}/rerun", rerun_api, methods=["POST"]),
    Route("/batch/{batch_id:int}", sheet_page),
    Route("/thumb/out/{output_id:int}", output_thumb),
    Route("/thumb/in/{job_id:int}/{n:int}", input_thumb),
    Route("/files/{output_id:int}", output_file),
]
