"""A submit upstream accepted is paid once, whatever fails on our side after its answer came.

Seen under load (two ``run`` of one manifest at once): a worker's threads made the process's
counters at the same time, one of them raised after the POST was answered, and the job, left
``submitting``, was recovered as "worker lost during submit" and sent again: paid twice.
"""

from __future__ import annotations

import itertools
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from batch import metrics
from batch.engine.tick import drain
from batch.simulator import SimulatorConfig, running_simulator
from batch.store.models import Job
from tests.helpers import make_runtime, make_settings, submit_manifest, write_manifest


def test_a_submit_answered_while_counting_it_fails_is_sent_once(tmp_path: Path, sqlite_url: str,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    made = metrics.counters
    calls = itertools.count()

    def first_fails() -> dict[str, Any]:  # the first call is the submit's answer being counted
        if next(calls) == 0:
            raise ValueError("Duplicated timeseries in CollectorRegistry: {'nanobatch_api_calls'}")
        return made()

    monkeypatch.setattr(metrics, "counters", first_fails)
    with running_simulator(SimulatorConfig(latency=(0.0, 0.0))) as sim:
        rt = make_runtime(make_settings(tmp_path, sqlite_url, sim.base_url))
        batch_id = submit_manifest(rt, write_manifest(tmp_path, sim.base_url, items=1, styles=1), time.time())
        drain(rt, batch_id, timeout=60)
        upstream = sim.stats()["jobs_by_state"]
    with rt.sessions() as session:
        (job,) = session.scalars(select(Job).where(Job.batch_id == batch_id)).all()
    assert next(calls) > 1  # the failure happened, and counting went on after it
    assert sum(upstream.values()) == 1  # one job upstream: sent once, paid once
    assert (job.state, job.submits, job.uncertain_submits) == ("succeeded", 1, 0)
