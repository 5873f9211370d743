"""The four documented /v1 calls: submit, status, result and cancel."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from batch.core.schema import MODEL_ID, check_inputs, with_defaults
from batch.simulator.errors import (
    BAD_MODEL,
    NO_BALANCE,
    OTHER_OWNER,
    UNAVAILABLE,
    UNKNOWN_REQUEST,
    VALIDATION,
    ApiError,
    too_many,
)
from batch.simulator.jobs import FAILED, SUCCEEDED, Job, iso_time
from batch.simulator.journal import body_sha256
from batch.simulator.middleware import BODY_SHA256, REQUEST_ID, STATE, TOKEN
from batch.simulator.shapes import output_fields
from batch.simulator.state import SimState


def request_urls(base: str, request_id: str) -> dict[str, str]:
    """The status, result and cancel URLs of ``request_id`` under ``base``."""
    root = f"{base}/v1/requests/{request_id}"
    return {"status_url": f"{root}/status", "result_url": f"{root}/result", "cancel_url": f"{root}/cancel"}


async def read_body(request: web.Request) -> dict[str, Any]:
    """The JSON object in the request body, or 422 (code 422001) when it is not one."""
    raw = await request.read()
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ApiError(422, VALIDATION, "request body is not valid JSON",
                       [{"field": "body", "message": f"invalid JSON: {exc}"}]) from None
    if not isinstance(body, dict):
        raise ApiError(422, VALIDATION, "request body must be a JSON object",
                       [{"field": "body", "message": "must be a JSON object"}])
    return body


def _validated(body: dict[str, Any]) -> dict[str, Any]:
    problems = check_inputs(body)
    if problems:
        detail = [{"field": p.field, "message": p.message} for p in problems]
        raise ApiError(422, VALIDATION, "input failed validation", detail)
    return with_defaults(body)


async def submit(request: web.Request) -> web.Response:
    """``POST /v1/models/{model}``: validate the body and queue a job."""
    state = request.app[STATE]
    model = request.match_info["model"]
    if model != MODEL_ID:
        raise ApiError(400, BAD_MODEL, f"unknown model {model!r} (this server knows {MODEL_ID!r})")
    body = await read_body(request)
    request[BODY_SHA256] = digest = body_sha256(body)
    inputs = _validated(body)
    token = request[TOKEN]
    balance = state.config.balance
    if balance is not None and state.queue.cost_charged >= balance:
        raise ApiError(402, NO_BALANCE, f"insufficient balance (${balance:g} spent)")
    limit = state.config.max_in_flight
    if limit is not None and state.queue.in_flight(token) >= limit:
        raise too_many(f"too many requests in flight for this token (limit {limit})", 1)
    job = state.queue.submit(token, inputs, digest)
    request[REQUEST_ID] = job.request_id
    state.counters.submits += 1
    if digest in state.seen_bodies:
        state.counters.duplicate_submits += 1
    state.seen_bodies.add(digest)
    return web.json_response({"request_id": job.request_id, **request_urls(state.base_for(request),
                                                                            job.request_id)})


def owned_job(state: SimState, request: web.Request) -> Job:
    """The job named in the path, or 404 (404001) when unknown, 403 (403001) when not the caller's."""
    request_id = request.match_info["request_id"]
    job = state.queue.jobs.get(request_id)
    if job is None:
        raise ApiError(404, UNKNOWN_REQUEST, f"request {request_id!r} not found")
    if job.token != request[TOKEN]:
        raise ApiError(403, OTHER_OWNER, "request belongs to another user")
    return job


async def status(request: web.Request) -> web.Response:
    """``GET /v1/requests/{id}/status``."""
    state = request.app[STATE]
    job = owned_job(state, request)
    urls = request_urls(state.base_for(request), job.request_id)
    body: dict[str, Any] = {"request_id": job.request_id, "status": job.status_word}
    position = state.queue.queue_position(job)
    if position is not None:
        body["queue_position"] = position
    body["status_url"] = urls["status_url"]
    body["result_url"] = urls["result_url"]
    return web.json_response(body)


def _wants_cost(request: web.Request) -> bool:
    return request.query.get("include_cost", "").lower() in ("true", "1", "yes")


async def result(request: web.Request) -> web.Response:
    """``GET /v1/requests/{id}/result[?include_cost=true]``."""
    state = request.app[STATE]
    job = owned_job(state, request)
    reads = state.result_reads[job.request_id] = state.result_reads.get(job.request_id, 0) + 1
    if reads <= state.config.result_errors:
        raise ApiError(503, UNAVAILABLE, f"result read {reads} of this request failed (--result-errors)")
    body: dict[str, Any] = {"request_id": job.request_id, "status": job.state}
    if job.state == SUCCEEDED:
        base = state.base_for(request)
        body.update(output_fields(state.config.result_shape, [f"{base}/files/{job.request_id}/{job.output_name}"]))
    body["created_at"] = iso_time(job.submitted_at)
    body["finished_at"] = iso_time(job.finished_at)
    if job.state == FAILED:
        body["error"] = job.error
    if _wants_cost(request):
        body["cost"] = state.config.answered_cost(job.cost) if job.state == SUCCEEDED else job.cost
    return web.json_response(body)


async def cancel(request: web.Request) -> web.Response:
    """``POST /v1/requests/{id}/cancel``: 202, outcome ``cancelled`` or ``not_cancellable``."""
    state = request.app[STATE]
    job = owned_job(state, request)
    outcome = state.queue.cancel(job)
    body = {"request_id": job.request_id, "status": job.status_word, "outcome": outcome}
    return web.json_response(body, status=202)


def add_routes(app: web.Application) -> None:
    """Register the four /v1 calls on ``app``."""
    app.router.add_post("/v1/models/{model:.+}", submit, name="submit")
    app.router.add_get("/v1/requests/{request_id}/status", status, name="status")
    app.router.add_get("/v1/requests/{request_id}/result", result, name="result")
    app.router.add_post("/v1/requests/{request_id}/cancel", cancel, name="cancel")
