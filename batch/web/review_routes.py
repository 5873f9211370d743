"""The contact sheet's JSON endpoints: decisions on outputs and groups, the live refresh, export.

Every decision names what it acts on by id (outputs, or a group's key), never by position on a
page, so a page that changed under the reviewer cannot move a decision onto another image.
"""

from __future__ import annotations

from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from batch.commands.export import export_approved
from batch.commands.review import decide_group, decide_ids, decide_outputs
from batch.errors import InputError
from batch.store import sheet as store
from batch.store.reviews import WEB_DECISIONS
from batch.web import sheet
from batch.web.common import (
    body_of,
    filters_of,
    index_batch,
    int_param,
    is_id,
    page_matching,
    waiting_line,
    web_of,
)


def _ids(body: dict[str, Any], name: str) -> list[int] | None:
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, list) or not all(is_id(i) for i in value):
        raise HTTPException(400, f"{name} is a list of ids")
    return value


async def review_api(request: Request) -> Response:
    """Record one decision: ``{"outputs": [output ids] | "job_ids": [...], "decision": ..., "note": ...}``.

    ``decision``: approved, rejected or cleared (back to unreviewed).
    """
    web = web_of(request)
    batch_id = int_param(request, "batch_id")
    body = await body_of(request)
    outputs, jobs = _ids(body, "outputs"), _ids(body, "job_ids")
    decision, note = body.get("decision"), body.get("note")
    if (outputs is None and jobs is None) or decision not in WEB_DECISIONS:
        raise HTTPException(400, "outputs (a list of output ids) and decision (approved, rejected or cleared) "
                                 "are needed")
    if note is not None and not isinstance(note, str):
        raise HTTPException(400, "note is text")
    try:
        if outputs is not None:
            count = await run_in_threadpool(decide_outputs, web.sessions, batch_id, outputs, decision,
                                            now=web.clock(), note=note, who=web.reviewer)
        else:
            count = await run_in_threadpool(decide_ids, web.sessions, batch_id, jobs or [], decision,
                                            now=web.clock(), note=note, who=web.reviewer)
    except InputError as exc:
        raise HTTPException(404, str(exc)) from None
    return JSONResponse({"recorded": count, "decision": decision})


async def group_api(request: Request) -> Response:
    """Decide a whole group of the batch: ``{"by": "item"|"style"|"none", "key": ..., "decision": ...,
    "rejected_seen": N}``; without ``rejected_seen``, only count its outputs and rejected ones."""
    web = web_of(request)
    batch_id = int_param(request, "batch_id")
    body = await body_of(request)
    by, key, decision, seen = body.get("by"), body.get("key"), body.get("decision"), body.get("rejected_seen")
    if by not in sheet.GROUPINGS or not isinstance(key, str) or decision not in WEB_DECISIONS:
        raise HTTPException(400, "by (item, style or none), key and decision are needed")
    if seen is not None and not isinstance(seen, int):
        raise HTTPException(400, "rejected_seen is a whole number")
    try:
        done = await run_in_threadpool(decide_group, web.sessions, batch_id, by, key, decision, now=web.clock(),
                                       rejected_seen=seen, who=web.reviewer)
    except InputError as exc:
        raise HTTPException(409, str(exc)) from None
    return JSONResponse({"outputs": done.outputs, "rejected": done.rejected, "recorded": done.recorded,
                         "before": done.before})


def changes_api(request: Request) -> Response:
    """The tiles of the page (same query string as the sheet) whose jobs changed after ``since``.

    ``{"cursor": ...}`` alone when nothing did; else also ``tiles``: each changed job's tiles as
    HTML, with the job before it on the page (``after``) and its group, for the page to patch in place.
    """
    web = web_of(request)
    batch_id = int_param(request, "batch_id")
    filters = filters_of(request)
    with web.sessions() as session:
        cursor = store.cursor(session)
        changed = store.changed_since(session, batch_id, request.query_params.get("since", ""))
    waiting = waiting_line(web, batch_id)  # said on every answer while it holds (only then: an idle page gets ~0)
    said = {"workers": waiting} if waiting else {}
    if changed is None:
        return JSONResponse({"cursor": cursor, "reload": True, **said})
    if not changed:
        return JSONResponse({"cursor": cursor, **said})
    index_batch(web, batch_id, cursor)
    number, _ = filters.pages(page_matching(web, batch_id, filters, cursor))
    with web.sessions() as session:
        ids = store.page_ids(session, batch_id, filters.query(number))
        hits = [i for i in ids if i in changed]
        jobs = store.sheet_jobs(session, hits)
    template = request.app.state.templates.get_template("_job.html")
    before = {job_id: (ids[n - 1] if n else None) for n, job_id in enumerate(ids)}
    tiles = [{"job": job.id, "after": before[job.id], "group": sheet.group_key(job, filters.grouping),
              "html": template.render(job=job)} for job in jobs]
    return JSONResponse({"cursor": cursor, "tiles": tiles, **said})


def attempts_api(request: Request) -> Response:
    """Every attempt at a job (the original and its reruns, oldest first): key, state, outputs, decisions."""
    web = web_of(request)
    batch_id, job_id = int_param(request, "batch_id"), int_param(request, "job_id")
    with web.sessions() as session:
        jobs = store.sheet_jobs(session, store.attempts(session, batch_id, job_id))
    return JSONResponse([{"job": j.id, "key": j.key, "state": j.state,
                          "outputs": [{"id": o.id, "decision": o.decision.decision if o.decision else None,
                                       "note": o.decision.note if o.decision else None} for o in j.outputs]}
                         for j in jobs])


async def export_api(request: Request) -> Response:
    """Copy the approved outputs to ``{"dest": folder}`` (the CLI's verified export); how many, and where."""
    web = web_of(request)
    batch_id = int_param(request, "batch_id")
    body = await body_of(request)
    dest = body.get("dest")
    if not isinstance(dest, str) or not dest.strip():
        raise HTTPException(400, "dest (a folder) is needed")
    try:
        files = await run_in_threadpool(export_approved, web.sessions, batch_id, dest.strip())
    except InputError as exc:
        raise HTTPException(400, str(exc)) from None
    return JSONResponse({"files": len(files), "dest": dest.strip()})


ROUTES = [
    Route("/api/batches/{batch_id:int}/review", review_api, methods=["POST"]),
    Route("/api/batches/{batch_id:int}/group", group_api, methods=["POST"]),
    Route("/api/batches/{batch_id:int}/changes", changes_api),
    Route("/api/batches/{batch_id:int}/export", export_api, methods=["POST"]),
    Route("/api/batches/{batch_id:int}/attempts/{job_id:int}", attempts_api),
]
