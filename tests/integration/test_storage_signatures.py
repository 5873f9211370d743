"""Signed URLs against a real S3 server: bad and expired signatures refused, an expired input signed again."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import aiohttp
import obstore
import pytest
import requests
from sqlalchemy import select, update

from batch.engine.tick import drain
from batch.manifest import load_manifest
from batch.simulator import SimulatorConfig, running_simulator
from batch.simulator.fetch import FetchError, fetch_one
from batch.storage.localserver import LocalS3
from batch.storage.prepare import upload_inputs
from batch.storage.signing import bucket_for
from batch.store.models import Batch, Job, JobEvent
from tests.helpers import make_runtime, make_settings
from tests.storage_helpers import create, photos_manifest


@pytest.fixture
def signed(s3_env: LocalS3) -> tuple[str, str]:
    """An object and a GET URL for it signed for 1 second."""
    bucket = bucket_for("s3", s3_env.bucket, None)
    key = f"sig/{time.time_ns()}.txt"
    obstore.put(bucket.client, key, b"hello")
    return key, bucket.sign_get(key, 1)


def test_server_refuses_bad_and_expired_signatures(signed: tuple[str, str]) -> None:
    _, url = signed
    assert requests.get(url, timeout=5).content == b"hello"
    forged = url.replace("X-Amz-Signature=", "X-Amz-Signature=0")
    assert requests.get(forged, timeout=5).status_code == 403
    time.sleep(2.1)  # real expiry, on the server's clock
    answer = requests.get(url, timeout=5)
    assert answer.status_code == 403 and "expired" in answer.text.lower()


def test_simulator_fetch_fails_on_an_expired_url(signed: tuple[str, str]) -> None:
    _, url = signed
    time.sleep(2.1)

    async def fetch() -> bytes:
        async with aiohttp.ClientSession() as session:
            return await fetch_one(session, 0, url)

    with pytest.raises(FetchError, match="HTTP 403"):
        asyncio.run(fetch())


def test_input_expired_in_upstream_queue_is_signed_again(tmp_path: Path, sqlite_url: str, s3_env: LocalS3) -> None:
    """One upstream worker, 2-s jobs, 1-s signatures: the second job's URL expires while it is queued."""
    prefix = f"t{time.time_ns()}"
    manifest = load_manifest(photos_manifest(tmp_path, s3_env, prefix, photos=1))
    upload_inputs(manifest)
    with running_simulator(SimulatorConfig(latency=(2.0, 2.0), workers=1)) as sim:
        rt = make_runtime(make_settings(tmp_path, sqlite_url, sim.base_url))
        batch_id = create(rt, manifest)
        with rt.sessions.begin() as session:  # the manifest allows 60 s at least: shorten it for the test
            options = {**session.get_one(Batch, batch_id).options}
            options["storage"] = {**options["storage"], "url_expiry_seconds": 1}
            session.execute(update(Batch).where(Batch.id == batch_id).values(options=options))
        drain(rt, batch_id, timeout=60)
    with rt.sessions() as session:
        jobs = session.scalars(select(Job)).all()
        events = session.scalars(select(JobEvent).order_by(JobEvent.id)).all()
    assert {j.state for j in jobs} == {"succeeded"}, [j.error for j in jobs]
    again = [e for e in events if e.to_state == "pending" and e.detail and "signing again" in e.detail]
    assert len(again) == 1 and "403" in (again[0].detail or "")
    assert sorted(j.submits for j in jobs) == [1, 2]
