"""The pilot page of ``serve``: the pilot's variants of each item side by side, approvals counted per
variant, and the decision (choose the variants, approve or reject). Reads through ``store.pilot``;
writes through ``commands.pilot`` (and the contact sheet's review endpoint for each output)."""

from __future__ import annotations

from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from batch.commands import pilot as commands
from batch.errors import InputError
from batch.store import pilot as store
from batch.store.models import Batch
from batch.web.common import body_of, int_param, queued, web_of


def _context(web: Any, batch_id: int) -> dict[str, Any]:
    with web.sessions() as session:
        batch = session.get(Batch, batch_id)
        found = store.progress(session, batch) if batch is not None else None
        if batch is None or found is None:
            raise HTTPException(404, f"batch {batch_id} has no pilot")
        groups = store.sheet(session, batch_id)
        offered = store.variants(session, batch_id)
    tally: dict[str, dict[str, dict[str, int]]] = {style: {v: {"approved": 0, "rejected": 0} for v in names}
                                                  for style, names in offered.items()}
    for _, jobs in groups:
        for job in jobs:
            if job.variant is not None and job.decision and job.style in tally:
                tally[job.style][job.variant][job.decision] += 1
    return {"batch": {"id": batch_id, "name": batch.name}, "pilot": found, "text": found.text(), "groups": groups,
            "tally": tally, "open": found.decision in (None, store.STOPPED), "csrf": web.csrf}


def pilot_page(request: Request) -> Response:
    """The batch's pilot: every variant of each sampled item side by side, and the decision."""
    context = _context(web_of(request), int_param(request, "batch_id"))
    response: Response = request.app.state.templates.TemplateResponse(request, "pilot.html", context)
    return response


def _decide(web: Any, batch_id: int, body: dict[str, Any]) -> dict[str, Any]:
    if body.get("decision") == "approve":
        chosen = body.get("variants") or {}
        if not isinstance(chosen, dict) or not all(isinstance(v, str) for v in chosen.values()):
            raise InputError("variants: a mapping of style to variant name")
        released, cancelled = commands.approve(web.sessions, batch_id, chosen, who=web.reviewer, now=web.clock())
    elif body.get("decision") == "reject":
        released, cancelled = 0, commands.reject(web.sessions, batch_id, who=web.reviewer, now=web.clock())
    else:
        raise InputError("decision: approve or reject")
    return {"released": released, "cancelled": cancelled,
            "hint": queued(web, batch_id) if released else None}


async def pilot_api(request: Request) -> Response:
    """``{"decision": "approve", "variants": {"studio": "neutral"}}`` or ``{"decision": "reject"}``."""
    body = await body_of(request)
    try:
        answer = await run_in_threadpool(_decide, web_of(request), int_param(request, "batch_id"), body)
    except InputError as exc:
        raise HTTPException(400, str(exc)) from None
    return JSONResponse(answer)


ROUTES = [
    Route("/batch/{batch_id:int}/pilot", pilot_page),
    Route("/api/batches/{batch_id:int}/pilot", pilot_api, methods=["POST"]),
]
