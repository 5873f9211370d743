"""The upstream job queue: ``--workers`` jobs run at once, the rest wait in FIFO order.

A job that starts running fetches its inputs, renders its output in a thread executor, then
waits out the rest of its drawn run time (fetch and render count within it) before it completes.
Money is charged when a job succeeds, and only then.
"""

from __future__ import annotations

import asyncio
import bisect
import time
import uuid
from collections.abc import Callable
from concurrent.futures import Executor
from typing import Any

import aiohttp

from batch.simulator.config import SimulatorConfig
from batch.simulator.faults import Faults
from batch.simulator.fetch import FetchError, fetch_inputs
from batch.simulator.imaging import InputImageError, RenderedOutput, render_output
from batch.simulator.jobs import (
    ACTIVE_STATES,
    CANCELLED,
    FAILED,
    IN_PROGRESS,
    IN_QUEUE,
    STATES,
    SUCCEEDED,
    Job,
)
from batch.simulator.store import ResultStore

CANCELLED_OUTCOME = "cancelled"
NOT_CANCELLABLE = "not_cancellable"
SIMULATED_FAILURE = "simulated upstream failure (--fail-rate): the model returned no image"


class JobError(Exception):
    """Why a running job ends failed (the message becomes its ``error``)."""


class JobQueue:
    """All jobs of one simulator, the waiting line, the running set and the money charged."""

    def __init__(self, config: SimulatorConfig, faults: Faults, store: ResultStore,
                 executor: Executor, session: Callable[[], aiohttp.ClientSession]) -> None:
        self.config = config
        self.faults = faults
        self.store = store
        self.executor = executor
        self._session = session
        self.jobs: dict[str, Job] = {}
        self.counts: dict[str, int] = dict.fromkeys(STATES, 0)
        self.cost_charged = 0.0
        self._waiting: list[int] = []  # seqs of queued jobs, ascending = FIFO order
        self._by_seq: dict[int, Job] = {}
        self._in_flight: dict[str, int] = {}
        self._running = 0
        self._next_seq = 0
        self._tasks: set[asyncio.Task[None]] = set()
        self._closed = False

    # -- submit, look up, cancel -------------------------------------------------------------

    def submit(self, token: str, inputs: dict[str, Any], body_sha256: str) -> Job:
        """Accept a job for ``token`` and put it at the back of the queue."""
        self._next_seq += 1
        job = Job(
            request_id=self.config.request_id_prefix + str(uuid.uuid4()), token=token, inputs=inputs,
            body_sha256=body_sha256,
            seq=self._next_seq, run_time=self.faults.run_time(), doomed=self.faults.job_fails(),
        )
        self.jobs[job.request_id] = job
        self.counts[IN_QUEUE] += 1
        self._in_flight[token] = self._in_flight.get(token, 0) + 1
        self._waiting.append(job.seq)
        self._by_seq[job.seq] = job
        self._pump()
        return job

    def in_flight(self, token: str) -> int:
        """How many of ``token``'s jobs are in_queue or in_progress."""
        return self._in_flight.get(token, 0)

    def queue_position(self, job: Job) -> int | None:
        """1-based place of ``job`` among the queued jobs (FIFO), None when not queued."""
        if job.state != IN_QUEUE:
            return None
        return bisect.bisect_left(self._waiting, job.seq) + 1

    def cancel(self, job: Job) -> str:
        """Cancel ``job`` if it is still queued; the outcome word for the cancel answer."""
        if job.state == CANCELLED:
            return CANCELLED_OUTCOME
        if job.state != IN_QUEUE:
            return NOT_CANCELLABLE
        index = bisect.bisect_left(self._waiting, job.seq)
        del self._waiting[index]
        del self._by_seq[job.seq]
        job.finished_at = time.time()
        self._set_state(job, CANCELLED)
        return CANCELLED_OUTCOME

    # -- running ------------------------------------------------------------------------------

    def _set_state(self, job: Job, state: str) -> None:
        self.counts[job.state] -= 1
        self.counts[state] += 1
        if job.state in ACTIVE_STATES and state not in ACTIVE_STATES:
            self._in_flight[job.token] -= 1
        job.state = state

    def _pump(self) -> None:
        while not self._closed and self._waiting and self._running < self.config.workers:
            job = self._by_seq.pop(self._waiting.pop(0))
            self._running += 1
            self._set_state(job, IN_PROGRESS)
            job.started_at = time.time()
            task = asyncio.get_running_loop().create_task(self._run(job))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _run(self, job: Job) -> None:
        loop = asyncio.get_running_loop()
        began = loop.time()
        try:
            output, error = await self._work(job), None
        except JobError as exc:
            output, error = None, str(exc)
        except Exception as exc:  # never let a job crash the server
            output, error = None, f"internal simulator error: {type(exc).__name__}: {exc}"
        try:
            remaining = job.run_time - (loop.time() - began)
            if remaining > 0:
                await asyncio.sleep(remaining)
            self._finish(job, output, error)
        finally:
            self._running -= 1
            self._pump()

    async def _work(self, job: Job) -> RenderedOutput:
        inputs = job.inputs
        try:
            images = await fetch_inputs(self._session(), inputs["image_urls"])
        except FetchError as exc:
            raise JobError(str(exc)) from None
        if job.doomed:
            raise JobError(SIMULATED_FAILURE)
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(
                self.executor, render_output, images, inputs["prompt"], inputs["aspect_ratio"],
                inputs["resolution"], inputs["output_format"],
            )
        except InputImageError as exc:
            raise JobError(str(exc)) from None

    def _finish(self, job: Job, output: RenderedOutput | None, error: str | None) -> None:
        job.finished_at = time.time()
        if output is None:
            job.error = error or "unknown failure"
            self._set_state(job, FAILED)
            return
        job.cost = self.config.price(job.inputs["resolution"])
        self.cost_charged += job.cost
        self.store.put(job.request_id, job.output_name, output, job.finished_at + self.config.result_ttl)
        self._set_state(job, SUCCEEDED)

    async def close(self) -> None:
        """Stop starting jobs and cancel the running ones (used at shutdown)."""
        self._closed = True
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def jobs_by_state(self) -> dict[str, int]:
        """How many jobs are in each state."""
        return dict(self.counts)
