"""A token the HTTP layer cannot send never reaches the database, a log or a report, and costs no uncertain submit.

Settings are built directly here (as a library user may), so the start-up check of
``load_settings`` is bypassed on purpose: the client's edge must hold on its own.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import pytest
from sqlalchemy import select

from batch.engine.tick import drain
from batch.reports.writer import write_report
from batch.simulator import SimulatorConfig, running_simulator
from batch.store.db import dispose_engines
from batch.store.models import Job
from tests.helpers import make_runtime, make_settings, submit_manifest, write_manifest

SECRET = "secret-tok-4242"


@pytest.mark.parametrize(
    "token",
    [
        "\ufeff" + SECRET,  # a token file saved with a byte-order mark, read without care
        SECRET + "\r\nX-Injected: 1",
        SECRET + "\u20ac",  # outside Latin-1: http.client would fail quoting the whole header
        SECRET + "\x00",
    ],
    ids=["bom", "crlf", "non-latin1", "nul"],
)
def test_unsendable_token_fails_jobs_without_leaking_it(tmp_path: Path, token: str,
                                                        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    db_file = tmp_path / "nb.db"
    with running_simulator(SimulatorConfig(latency=(0.0, 0.0))) as sim:
        rt = make_runtime(make_settings(tmp_path, f"sqlite:///{db_file}", sim.base_url, token=token))
        batch_id = submit_manifest(rt, write_manifest(tmp_path, sim.base_url, items=2, styles=2), time.time())
        drain(rt, batch_id, timeout=30)
        stats = sim.stats()
    with rt.sessions() as session:
        jobs = session.scalars(select(Job).where(Job.batch_id == batch_id)).all()
    assert {job.state for job in jobs} == {"failed"}
    assert [job.uncertain_submits for job in jobs] == [0] * len(jobs)
    assert all("could not be sent" in (job.error or "") for job in jobs), [job.error for job in jobs]
    assert stats["submits"] == 0
    reports = [write_report(rt.sessions, batch_id, tmp_path / f"r.{ext}") for ext in ("csv", "json", "html")]
    dispose_engines()
    stored = b"".join(p.read_bytes() for p in tmp_path.glob("nb.db*"))
    for text in (stored.decode("utf-8", "replace"), caplog.text, *(p.read_text() for p in reports)):
        assert SECRET not in text
