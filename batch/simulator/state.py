"""Everything one running simulator holds, with its start-up and shut-down."""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import aiohttp
from aiohttp import web

from batch.simulator.config import SimulatorConfig
from batch.simulator.faults import Faults
from batch.simulator.fetch import client_timeout
from batch.simulator.imaging import sample_catalog
from batch.simulator.journal import CallCounters, Journal
from batch.simulator.queue import JobQueue
from batch.simulator.store import ResultStore

SWEEP_EVERY_SECONDS = 5.0
WILDCARD_HOSTS = frozenset({"", "0.0.0.0", "::"})


def url_host(host: str) -> str:
    """``host`` as it appears in a URL (IPv6 literals in brackets)."""
    return f"[{host}]" if ":" in host else host


class SimState:
    """The queue, faults, counters, journal, hosted files and sample catalog of one simulator."""

    def __init__(self, config: SimulatorConfig) -> None:
        self.config = config
        self.faults = Faults(config)
        self.counters = CallCounters()
        self.journal = Journal(config.journal)
        self.store = ResultStore()
        workers = max(2, min(4, os.cpu_count() or 2))
        self.executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="nanobatch-sim-render")
        self._session: aiohttp.ClientSession | None = None
        self.queue = JobQueue(config, self.faults, self.store, self.executor, self.client_session)
        self.samples = sample_catalog()
        self.base_url = f"http://{url_host(config.host)}:{config.port}"
        self._housekeeper: asyncio.Task[None] | None = None
        self.seen_bodies: set[str] = set()
        self.result_reads: dict[str, int] = {}  # /result reads of each request, for --result-errors

    def client_session(self) -> aiohttp.ClientSession:
        """The HTTP client used to fetch job inputs (exists while the server runs)."""
        if self._session is None:
            raise RuntimeError("the simulator is not running")
        return self._session

    def bound(self, port: int) -> None:
        """Record the port actually bound (matters for ``--port 0``)."""
        self.base_url = f"http://{url_host(self.config.host)}:{port}"

    def base_for(self, request: web.Request) -> str:
        """The base URL for links in answers: our own address, or the Host asked for if wildcard."""
        if self.config.host in WILDCARD_HOSTS:
            return f"{request.scheme}://{request.host}"
        return self.base_url

    async def start(self) -> None:
        """Open the input-fetch client and journal, start housekeeping."""
        self._session = aiohttp.ClientSession(timeout=client_timeout(self.config.fetch_timeout))
        self.journal.open()
        self._housekeeper = asyncio.get_running_loop().create_task(self._housekeeping())

    async def stop(self) -> None:
        """Cancel running jobs, close the client, flush and close the journal."""
        if self._housekeeper is not None:
            self._housekeeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._housekeeper
        await self.queue.close()
        if self._session is not None:
            await self._session.close()
        self.journal.close()
        self.executor.shutdown(wait=False, cancel_futures=True)

    async def _housekeeping(self) -> None:
        last_sweep = time.monotonic()
        while True:
            await asyncio.sleep(self.config.journal_flush_seconds)
            self.journal.flush()
            if time.monotonic() - last_sweep >= SWEEP_EVERY_SECONDS:
                self.store.sweep(time.time())
                last_sweep = time.monotonic()

    def stats(self) -> dict[str, Any]:
        """The ``/_sim/stats`` body."""
        return {
            **self.counters.as_dict(),
            "jobs_by_state": self.queue.jobs_by_state(),
            "cost_charged": round(self.queue.cost_charged, 6),
            "hosted_files": len(self.store),
        }
