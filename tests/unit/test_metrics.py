"""The process's counters: made once, whichever threads count first and at the same time.

A worker's threads make their first API calls together; the counters made twice raise
``DuplicateTimeseries`` in one of them, after upstream's answer (a submit accepted and its request id
lost: the job was sent again and paid twice).
"""

from __future__ import annotations

import threading
from typing import Any

import prometheus_client
import pytest
from prometheus_client import CollectorRegistry

from batch import metrics


def test_the_first_calls_of_two_threads_at_once_are_both_counted(monkeypatch: pytest.MonkeyPatch) -> None:
    registry = CollectorRegistry()
    real_counter, real_histogram = prometheus_client.Counter, prometheus_client.Histogram
    made: list[str] = []
    first_making, second_making = threading.Event(), threading.Event()

    def counter(name: str, *args: Any, **kwargs: Any) -> Any:
        made.append(name)
        if len(made) == 1:  # the first thread, making the counters: let the second one come meanwhile
            first_making.set()
            second_making.wait(1.0)  # it comes only if nothing keeps it out
        elif name == made[0]:
            second_making.set()
        return real_counter(name, *args, registry=registry, **kwargs)

    monkeypatch.setattr(prometheus_client, "Counter", counter)
    monkeypatch.setattr(prometheus_client, "Histogram",
                        lambda *args, **kwargs: real_histogram(*args, registry=registry, **kwargs))
    monkeypatch.setattr(metrics, "_created", {})
    failed: list[BaseException] = []

    def count() -> None:
        try:
            metrics.api_call("submit", 200)
        except BaseException as exc:  # the assertion below names it
            failed.append(exc)

    first = threading.Thread(target=count)
    first.start()
    assert first_making.wait(10)
    second = threading.Thread(target=count)
    second.start()
    for thread in (first, second):
        thread.join(10)
    assert failed == []
    assert made.count("nanobatch_api_calls") == 1
    assert registry.get_sample_value("nanobatch_api_calls_total", {"kind": "submit", "answer": "200"}) == 2


def test_a_count_that_fails_does_not_fail_the_call(monkeypatch: pytest.MonkeyPatch,
                                                  caplog: pytest.LogCaptureFixture) -> None:
    """Counting runs between upstream's answer and the step that writes it: it never raises."""
    def broken() -> dict[str, Any]:
        raise ValueError("Duplicated timeseries in CollectorRegistry")

    monkeypatch.setattr(metrics, "counters", broken)
    metrics.api_call("submit", 200)
    assert "counting a submit call (answer 200) failed" in caplog.text
