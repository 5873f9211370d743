"""Prometheus counters of this process: API calls and their answers, 429s, and the download lag.

``nanobatch_api_calls_total{kind, answer}`` (kind: submit, status, result, cancel; answer: the HTTP
status, or why there was none: ``not_delivered``, ``uncertain_delivery``...),
``nanobatch_api_rate_limited_total{kind}`` (the 429s), and the histogram
``nanobatch_download_lag_seconds`` (from upstream's end of a job to its files verified on disk).
The gauges, read from the database at scrape time, and the server are ``batch.engine.scrape``'s.

Workers run Celery's thread pool: one process, whose counters need no multiprocess mode; a
deployment sums them over its workers (``sum by (kind, answer)``).
"""

from __future__ import annotations

import logging
import re
import threading
from typing import Any

LAG_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 900.0)
log = logging.getLogger(__name__)
_created: dict[str, Any] = {}
_creating = threading.Lock()


def counters() -> dict[str, Any]:
    """The process's counters, created on first use (importing prometheus_client takes about 60 ms,
    which a command that makes no API call should not pay).

    Created under a lock: a worker's threads make their first API calls together, and a second
    registration of the same names raises (``functools.cache`` lets two first callers both build).
    """
    with _creating:
        if not _created:
            _created.update(_build())
        return _created


def _build() -> dict[str, Any]:
    from prometheus_client import Counter, Histogram

    return {
        "calls": Counter("nanobatch_api_calls", "Calls to the API, by kind and answer (HTTP status or why none).",
                         ["kind", "answer"]),
        "429": Counter("nanobatch_api_rate_limited", "API answers 429 (rate limited), by kind.", ["kind"]),
        "lag": Histogram("nanobatch_download_lag_seconds",
                         "Seconds from upstream's end of a job to its files verified on disk.", buckets=LAG_BUCKETS),
    }


def api_call(kind: str, answer: int | str) -> None:
    """Count one API call of ``kind`` and its answer (an HTTP status, or a word when there was none).

    Never raises: it runs between upstream's answer and the step that records it (a submit's
    request id), and a counter is not worth losing an answer for.
    """
    try:
        counters()["calls"].labels(kind, str(answer)).inc()
        if answer == 429:
            counters()["429"].labels(kind).inc()
    except Exception:
        log.exception("counting a %s call (answer %s) failed", kind, answer)


def no_answer(kind: str, error: BaseException) -> None:
    """Count a call of ``kind`` that got no HTTP answer, named after its error (``NotDelivered``: ``not_delivered``)."""
    api_call(kind, re.sub(r"(?<!^)(?=[A-Z])", "_", type(error).__name__).lower())


def downloaded(lag_seconds: float) -> None:
    """A job's files are on disk ``lag_seconds`` after upstream finished it."""
    counters()["lag"].observe(max(0.0, lag_seconds))
