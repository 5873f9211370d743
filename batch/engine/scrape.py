"""The Prometheus gauges, read from the database and the broker at each scrape, and the metrics server.

Gauges (computed at scrape time, so that every process that serves them says the same, and none
keeps state: the database is the truth for states and spend): for the ``RECENT_BATCHES`` newest
batches, ``nanobatch_jobs{batch, name, state}``, ``nanobatch_spend_usd{batch}``,
``nanobatch_budget_usd{batch}`` and ``nanobatch_uncertain_submits{batch}``; ``nanobatch_queue_depth``
(jobs due now in the database, which is the queue); with a broker, ``nanobatch_broker_messages{queue}``
(task messages waiting in Redis) and ``nanobatch_beat_alive`` (1 while a beat holds its lease).
The counters are ``batch.metrics``'s. Served on an opt-in port, loopback unless
``NANOBATCH_METRICS_ADDRESS`` says otherwise (the metrics name batches).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import redis
from prometheus_client import REGISTRY, start_http_server
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy.orm import Session, sessionmaker

from batch.config import Settings
from batch.core.cost import usd_float
from batch.engine.beat import any_beat_alive
from batch.errors import ConfigError
from batch.store import db, gauges

log = logging.getLogger(__name__)
RECENT_BATCHES = 50


class DatabaseCollector(Collector):
    """The gauges, read from the database (and the broker, when given) at each scrape."""

    def __init__(self, sessions: Callable[[], sessionmaker[Session]], redis_url: str | None = None,
                 queues: Sequence[str] = (), clock: Callable[[], float] = time.time) -> None:
        self.sessions = sessions
        self.redis_url = redis_url
        self.queues = tuple(queues)
        self.clock = clock

    def collect(self) -> Iterable[Metric]:
        """Every gauge, as of now."""
        jobs = GaugeMetricFamily("nanobatch_jobs", "Jobs of a batch by state.", labels=["batch", "name", "state"])
        spend = GaugeMetricFamily("nanobatch_spend_usd", "Dollars charged so far for a batch.", labels=["batch"])
        budget = GaugeMetricFamily("nanobatch_budget_usd", "A batch's budget, when it has one.", labels=["batch"])
        uncertain = GaugeMetricFamily("nanobatch_uncertain_submits",
                                      "Submits of a batch that may have reached upstream unanswered.", labels=["batch"])
        with self.sessions()() as session:
            batches = gauges.recent_batches(session, RECENT_BATCHES)
            due = gauges.due_jobs(session, self.clock())
        for b in batches:
            for state, count in sorted(b.counts.items()):
                jobs.add_metric([str(b.batch_id), b.name, state], count)
            spend.add_metric([str(b.batch_id)], usd_float(b.charged_usd))
            if b.budget_usd is not None:
                budget.add_metric([str(b.batch_id)], usd_float(b.budget_usd))
            uncertain.add_metric([str(b.batch_id)], b.uncertain_submits)
        yield from (jobs, spend, budget, uncertain)
        yield GaugeMetricFamily("nanobatch_queue_depth", "Jobs due now in the database (the queue).", value=due)
        yield from self._broker()

    def _broker(self) -> Iterable[Metric]:
        if self.redis_url is None:
            return
        messages = GaugeMetricFamily("nanobatch_broker_messages", "Task messages waiting in the broker.",
                                     labels=["queue"])
        try:
            client = redis.Redis.from_url(self.redis_url, socket_timeout=2, socket_connect_timeout=2)
            alive = any_beat_alive(client)
            for queue in self.queues:
                messages.add_metric([queue], int(client.llen(queue)))
        except (redis.RedisError, OSError):
            log.warning("metrics: the broker does not answer")
            return
        yield messages
        yield GaugeMetricFamily("nanobatch_beat_alive", "1 while a beat holds its lease.", value=int(alive))


def serve(port: int, address: str, collector: DatabaseCollector) -> Any:
    """Serve this process's counters and ``collector``'s gauges on ``address:port`` from a daemon
    thread; returns the server (``shutdown()`` stops it)."""
    REGISTRY.register(collector)
    server, _ = start_http_server(port, addr=address, registry=REGISTRY)
    log.warning("metrics on http://%s:%d/metrics", address, server.server_address[1])
    return server


def start(settings: Settings, port: int, *, redis_url: str | None = None, queues: Sequence[str] = ()) -> Any:
    """Serve the metrics of this process with the gauges of ``settings``' database (and broker, if given)."""
    collector = DatabaseCollector(lambda: db.session_factory(settings.db_url), redis_url, queues)
    try:
        return serve(port, settings.metrics_address, collector)
    except OSError as exc:
        REGISTRY.unregister(collector)
        raise ConfigError(f"cannot serve metrics on {settings.metrics_address}:{port}: {exc.strerror}") from None
