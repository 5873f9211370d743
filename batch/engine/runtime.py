"""What a worker step needs, gathered in one object that tests build with their own parts."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import requests
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from batch.config import Settings
from batch.core.cost import PriceTable
from batch.core.states import JobState
from batch.core.timing import QueueModel, RuntimeEstimate, Sighting, estimate_runtime, queue_model
from batch.store import db
from batch.store.models import Batch, Job
from batch.upstream.client import Api, ApiClient
from batch.upstream.http import HttpSession
from batch.upstream.limiter import Limiter, NullLimiter, Rates, RedisLimiter

ESTIMATE_TTL = 5.0
ESTIMATE_SAMPLE = 200
QUEUE_TTL = 0.5      # the queue model is read again after this many seconds (the tick asks every tick) ...
QUEUE_MEMORY = 60.0  # ... from the sightings of this many seconds


@dataclass
class Runtime:
    """Settings, database, API client, limiter, clock and randomness for the worker steps."""

    settings: Settings
    sessions: sessionmaker[Session]
    client: Api
    limiter: Limiter
    http: requests.Session
    prices: PriceTable = field(default_factory=PriceTable)
    clock: Callable[[], float] = time.time
    rand: Callable[[], float] = random.random
    _estimates: dict[int, tuple[float, RuntimeEstimate]] = field(default_factory=dict)
    _queues: dict[int, tuple[float, QueueModel | None]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

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
            rows = session.execute(
                select(Job.completed_at - Job.submitted_at)
                .where(
                    Job.batch_id == batch_id,
                    Job.state.in_([JobState.SUCCEEDED.value, JobState.DOWNLOADING.value]),
                    Job.completed_at.is_not(None),
                    Job.uncertain_submits == 0,
                )
                .order_by(Job.completed_at.desc())
                .limit(ESTIMATE_SAMPLE)
            ).scalars()
            durations = [float(r) for r in rows if r is not None and r >= 0]
            # jobs still upstream are censored samples: without them the estimate is biased low early on
            started = session.execute(
                select(Job.submitted_at).where(
                    Job.batch_id == batch_id,
                    Job.state.in_([JobState.QUEUED.value, JobState.RUNNING.value]),
                    Job.submitted_at.is_not(None),
                ).limit(ESTIMATE_SAMPLE * 25)
            ).scalars()
            estimate = estimate_runtime(durations, [now - float(t) for t in started if t is not None])
        with self._lock:
            self._estimates[batch_id] = (now, estimate)
        return estimate

    def queue(self, batch_id: int) -> QueueModel | None:
        """Upstream's queue as the batch's jobs saw it (the first and the latest sighting of the last
        ``QUEUE_MEMORY`` seconds, whether or not those jobs have finished since); None if unknown.

        Cached for ``QUEUE_TTL`` seconds. Without recent sightings (no job of the batch found
        waiting lately) there is no model, and polls go by age again.
        """
        now = self.clock()
        with self._lock:
            cached = self._queues.get(batch_id)
            if cached and now - cached[0] < QUEUE_TTL:
                return cached[1]
        sighted = select(Job.submitted_at, Job.queue_position, Job.position_at).where(
            Job.batch_id == batch_id, Job.position_at >= now - QUEUE_MEMORY, Job.queue_position > 0,
            Job.submitted_at.is_not(None)).limit(1)
        model = None
        with self.sessions() as session:
            first = session.execute(sighted.order_by(Job.position_at)).first()
            last = session.execute(sighted.order_by(Job.position_at.desc())).first()
            if first is not None and last is not None:
                model = queue_model(_sighting(session, batch_id, *first), _sighting(session, batch_id, *last))
        with self._lock:
            self._queues[batch_id] = (now, model)
        return model


def _sighting(session: Session, batch_id: int, submitted_at: Any, position: Any, seen_at: Any) -> Sighting:
    """A job's sighting in upstream's queue, with its place in the batch's submit order."""
    rank = session.scalar(select(func.count()).where(Job.batch_id == batch_id, Job.submitted_at < submitted_at))
    return Sighting(int(rank or 0), int(position), float(seen_at))


def build_runtime(settings: Settings, *, redis_url: str | None) -> Runtime:
    """A Runtime wired to the configured database, the API and the shared limiter."""
    http = HttpSession()
    client = ApiClient(settings.api_base, settings.require_token(), http=http, timeout=settings.http_timeout)
    limiter: Limiter = RedisLimiter(redis_url) if redis_url else NullLimiter()
    return Runtime(
        settings=settings,
        sessions=db.session_factory(settings.db_url),
        client=client,
        limiter=limiter,
        http=HttpSession(),
        prices=PriceTable(settings.price_1k_2k, settings.price_4k),
    )
