"""The process's counters, created on first use by threads that make their first API calls together.

A worker's threads submit at once; the one whose counter registration came second raised
``DuplicateTimeseries`` after its POST was answered, and the job failed without its request id
while upstream charged for it. Run in a fresh interpreter: the counters are the process's own.
"""

from __future__ import annotations

import subprocess
import sys

# Two threads count their first call; the first to build a counter waits (at most 2 s) until the
# other one builds one too: without a lock both register the same names, and one of them raises.
RACE = """
import threading
import prometheus_client
from batch import metrics

real, built, failures = prometheus_client.Counter, [], []
second = threading.Event()

def counter(*args, **kwargs):
    built.append(threading.get_ident())
    if len({*built}) > 1:
        second.set()
    second.wait(2.0)
    return real(*args, **kwargs)

prometheus_client.Counter = counter

def first_call():
    try:
        metrics.api_call("submit", 200)
    except Exception as exc:
        failures.append(type(exc).__name__)

threads = [threading.Thread(target=first_call) for _ in range(2)]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
print(failures, len({*built}), prometheus_client.REGISTRY.get_sample_value(
    "nanobatch_api_calls_total", {"kind": "submit", "answer": "200"}))
"""


def test_threads_making_their_first_api_calls_together_create_the_counters_once() -> None:
    done = subprocess.run([sys.executable, "-c", RACE], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["[]", "1", "2.0"]  # no failure, built by one thread, both calls counted
