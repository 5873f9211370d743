"""What a worker step needs, gathered in one object that tests build with their own parts."""

from __future__ import annotations

import contextlib
import random
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import requests
from sqlalchemy.orm import Session, sessionmaker

from batch.config import Settings
from batch.core.breaker import Breaker
from batch.core.cost import PriceTable
from batch.core.timing import QueueModel, RuntimeEstimate, estimate_runtime, queue_model
from batch.store import db, samples
from batch.store.models import Batch
from batch.upstream.client import Api, ApiClient
from batch.upstream.http import HttpSession
from batch.upstream.limiter import Limiter, LimiterPolicy, NullLimiter, Rates, RedisLimiter

ESTIMATE_TTL = 5.0
QUEUE_TTL = 0.5  # the queue model is read again after this many seconds (the tick asks every tick)


@dataclass
class Runtime:
    """Settings, database, API client, limiter, clock and randomness for the worker steps."""

    settings: Settings
    sessions: sessionmaker[Session]
    client: Api
    limiter: Limiter
    http: requests.Session
    prices: PriceTable = field(default_factory=PriceTable)
    breaker: Breaker = field(default_factory=Breaker)
    clock: Callable[[], float] = time.time
    rand: Callable[[], float] = random.random
    stopping: threading.Event = field(default_factory=threading.Event)  # set: start no step, give jobs back
    _estimates: dict[int, tuple[float, RuntimeEstimate]] = field(default_factory=dict)
    _queues: dict[int, tuple[float, QueueModel | None]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _downloads: threading.BoundedSemaphore | None = None
    _posts: int = 0  # submits sent and not yet answered
    _posts_changed: threading.Condition = field(default_factory=threading.Condition)

    @contextlib.contextmanager
    def posting(self) -> Iterator[None]:
        """Around a submit's POST: a stopping worker waits for it (``wait_for_posts``) before it exits."""
        with self._posts_changed:
            self._posts += 1
        try:
            yield
        finally:
            with self._posts_changed:
                self._posts -= 1
                self._posts_changed.notify_all()

    def wait_for_posts(self, timeout: float) -> int:
        """Wait up to ``timeout`` seconds for the submits being sent to be answered; how many still are not.

        A worker that exits mid-POST loses the answer, and the job, found ``submitting``, is an
        uncertain submit: upstream may have taken it (and charges it) without our knowing its id.
        """
        with self._posts_changed:
            self._posts_changed.wait_for(lambda: self._posts == 0, timeout)
            return self._posts

    @contextlib.contextmanager
    def download_slot(self) -> Iterator[bool]:
        """One of this process's ``download_slots`` for the block (True), or False at once when all are
        taken: slow file hosts then hold a few worker threads, never all of them."""
        with self._lock:
            if self._downloads is None:
                self._downloads = threading.BoundedSemaphore(self.settings.download_slots)
            slots = self._downloads
        if not slots.acquire(blocking=False):
            yield False
            return
        try:
            yield True
        finally:
            slots.release()

    def rates_for(self, batch: Batch) -> Rates:
        """The lowest of the configured and the manifest's rates."""
        base = Rates(self.settings.requests_per_second, self.settings.submits_per_second)
        mine = Rates(batch.requests_per_second, batch.submits_per_second) if batch.requests_per_second else None
        if mine is None and batch.submits_per_second:
            mine = Rates(base.requests_per_second, batch.submits_per_second)
        return base.lowest(mine)

    def estimate(self, batch_id: int) -> RuntimeEstimate:
        """Upstream run time learned from the batch's finished and running jobs (cached a few seconds)."""
        now = self.clock()
        with self._lock:
            cached = self._estimates.get(batch_id)
            if cached and now - cached[0] < ESTIMATE_TTL:
                return cached[1]
        with self.sessions() as session:
            durations, ages = samples.runtime_samples(session, batch_id, now)
        estimate = estimate_runtime(durations, ages)
        with self._lock:
            self._estimates[batch_id] = (now, estimate)
        return estimate

    def queue(self, batch_id: int) -> QueueModel | None:
        """Upstream's queue as the batch's jobs saw it (the first and the latest sighting of the last
        ``samples.QUEUE_MEMORY`` seconds, whether or not those jobs have finished since); None if unknown.

        Cached for ``QUEUE_TTL`` seconds. Without recent sightings (no job of the batch found
        waiting lately) there is no model, and polls go by age again.
        """
        now = self.clock()
        with self._lock:
            cached = self._queues.get(batch_id)
            if cached and now - cached[0] < QUEUE_TTL:
                return cached[1]
        with self.sessions() as session:
            sightings = samples.queue_sightings(session, batch_id, now)
        model = queue_model(*sightings) if sightings is not None else None
        with self._lock:
            self._queues[batch_id] = (now, model)
        return model


def limiter_policy(settings: Settings) -> LimiterPolicy:
    """The shared limiter's knobs from the settings: its windows lengthened by the rate guard."""
    return LimiterPolicy(guard=settings.rate_guard_seconds)


def build_runtime(settings: Settings, *, redis_url: str | None) -> Runtime:
    """A Runtime wired to the configured database, the API and the shared limiter."""
    http = HttpSession()
    client = ApiClient(settings.api_base, settings.check_api(), http=http, timeout=settings.http_timeout)
    limiter: Limiter = RedisLimiter(redis_url, policy=limiter_policy(settings)) if redis_url else NullLimiter()
    return Runtime(
        settings=settings,
        sessions=db.session_factory(settings.db_url),
        client=client,
        limiter=limiter,
        http=HttpSession(),
        prices=PriceTable(settings.price_1k_2k, settings.price_4k),
    )
