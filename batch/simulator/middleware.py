"""What every /v1 call goes through: auth, rate limit, injected faults, journal and counters.

Order: bearer auth (401) -> ``--rate-limit`` (429) -> ``--error-rate`` (503) -> the call itself
-> ``--drop-rate`` (connection closed; the call's effect, e.g. a created job, stays) ->
``--slow-rate`` (answer held back ``--slow-seconds``).
"""

from __future__ import annotations

import asyncio
import re
import time
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler

from batch.simulator.errors import UNAVAILABLE, ApiError, too_many, unauthorized
from batch.simulator.faults import CallFaults
from batch.simulator.journal import DROP
from batch.simulator.state import SimState

STATE = web.AppKey("nanobatch_simulator_state", SimState)
TOKEN = web.RequestKey("token", str)
REQUEST_ID = web.RequestKey("request_id", str)
BODY_SHA256 = web.RequestKey("body_sha256", str)

_BEARER = re.compile(r"Bearer +(\S+) *", re.IGNORECASE)


def authenticate(state: SimState, request: web.Request) -> str:
    """The caller's bearer token, or :class:`ApiError` 401 (code 400004)."""
    header = request.headers.get("Authorization")
    if header is None:
        raise unauthorized("missing Authorization header (expected 'Bearer <token>')")
    match = _BEARER.fullmatch(header)
    if match is None:
        raise unauthorized("malformed Authorization header (expected 'Bearer <token>')")
    token = match.group(1)
    if state.config.tokens and token not in state.config.tokens:
        raise unauthorized("invalid or expired token")
    return token


def _guard(state: SimState, request: web.Request) -> CallFaults:
    token = authenticate(state, request)
    retry_after = state.faults.rate_limited(token, time.monotonic())
    if retry_after is not None:
        raise too_many(f"rate limit of {state.config.rate_limit:g} requests/s exceeded", retry_after)
    faults = state.faults.for_call()
    if faults.error:
        raise ApiError(503, UNAVAILABLE, "service temporarily unavailable (simulated)")
    request[TOKEN] = token
    return faults


def _kind(request: web.Request) -> str:
    return request.match_info.route.name or "other"


def _record(state: SimState, request: web.Request, started: float, status: int | str) -> None:
    state.counters.count_answer(status)
    if state.journal.path is None:
        return
    entry: dict[str, Any] = {
        "t": started,
        "method": request.method,
        "path": request.path,
        "status": status,
        "request_id": request.get(REQUEST_ID) or request.match_info.get("request_id"),
    }
    if _kind(request) == "submit":
        entry["body_sha256"] = request.get(BODY_SHA256)
    state.journal.record(entry)


def _drop(request: web.Request) -> None:
    transport = request.transport
    if transport is not None:
        transport.abort()


@web.middleware
async def v1_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Apply auth, limits, faults and accounting to /v1 calls; pass everything else through."""
    if not request.path.startswith("/v1/"):
        return await handler(request)
    state = request.app[STATE]
    started = time.time()
    state.counters.count_call(_kind(request))
    faults = CallFaults()
    try:
        faults = _guard(state, request)
        response = await handler(request)
    except ApiError as exc:
        response = exc.response()
    except web.HTTPException as exc:  # no such /v1 route or method
        response = ApiError(exc.status, exc.status * 1000, exc.reason).response()
    if faults.drop:
        _record(state, request, started, DROP)
        _drop(request)
        return response
    if faults.slow:
        state.counters.slow_answers += 1
        await asyncio.sleep(state.config.slow_seconds)
    _record(state, request, started, response.status)
    return response
