"""The aiohttp application: /v1 API, sample catalog, hosted files and /_sim introspection.

Only /v1 needs a bearer token; ``/samples/``, ``/files/`` (like a CDN) and ``/_sim/`` are open.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

from aiohttp import web

from batch.simulator import api
from batch.simulator.config import SimulatorConfig
from batch.simulator.imaging import NOT_AN_IMAGE
from batch.simulator.middleware import STATE, v1_middleware
from batch.simulator.state import SimState

NOT_AN_IMAGE_NAME = "not-an-image.txt"


async def list_samples(request: web.Request) -> web.Response:
    """``GET /samples/``: the names of the catalog's PNG files."""
    return web.json_response(sorted(request.app[STATE].samples))


async def get_sample(request: web.Request) -> web.Response:
    """``GET /samples/{name}``: one catalog PNG (or the deliberate text file)."""
    name = request.match_info["name"]
    if name == NOT_AN_IMAGE_NAME:
        return web.Response(body=NOT_AN_IMAGE, content_type="text/plain")
    data = request.app[STATE].samples.get(name)
    if data is None:
        raise web.HTTPNotFound(text=f"no sample named {name!r}")
    return web.Response(body=data, content_type="image/png")


SLOW_PARTS = 10  # a slow download arrives in this many parts, spread over --slow-seconds


async def get_file(request: web.Request) -> web.StreamResponse:
    """``GET /files/{request_id}/{name}``: a hosted output, until it expires (then 404); with
    ``--slow-download-rate``, some are trickled out over ``--slow-seconds``."""
    state = request.app[STATE]
    output = state.store.get(request.match_info["request_id"], request.match_info["name"], time.time())
    if output is None:
        raise web.HTTPNotFound(text="no such file (unknown or expired)")
    if not state.faults.slow_download():
        return web.Response(body=output.data, content_type=output.content_type)
    state.counters.slow_downloads += 1
    response = web.StreamResponse(headers={"Content-Type": output.content_type,
                                           "Content-Length": str(len(output.data))})
    await response.prepare(request)
    part = -(-len(output.data) // SLOW_PARTS)
    for start in range(0, len(output.data), part):
        await asyncio.sleep(state.config.slow_seconds / SLOW_PARTS)
        await response.write(output.data[start:start + part])
    await response.write_eof()
    return response


async def sim_stats(request: web.Request) -> web.Response:
    """``GET /_sim/stats``: call counters, jobs by state, money charged."""
    return web.json_response(request.app[STATE].stats())


async def sim_jobs(request: web.Request) -> web.Response:
    """``GET /_sim/jobs``: every job with its state and unix timestamps."""
    jobs = request.app[STATE].queue.jobs.values()
    return web.json_response([job.summary() for job in jobs])


def build_app(config: SimulatorConfig) -> web.Application:
    """A ready-to-run application for ``config`` (state starts and stops with the app)."""
    app = web.Application(middlewares=[v1_middleware])
    state = SimState(config)
    app[STATE] = state

    async def lifecycle(_app: web.Application) -> AsyncIterator[None]:
        """Start the state with the server; stop it (flush journal, cancel jobs) at shutdown."""
        await state.start()
        yield
        await state.stop()

    app.cleanup_ctx.append(lifecycle)
    api.add_routes(app)
    app.router.add_get("/samples/", list_samples)
    app.router.add_get("/samples", list_samples)
    app.router.add_get("/samples/{name}", get_sample)
    app.router.add_get("/files/{request_id}/{name}", get_file)
    app.router.add_get("/_sim/stats", sim_stats)
    app.router.add_get("/_sim/jobs", sim_jobs)
    return app
