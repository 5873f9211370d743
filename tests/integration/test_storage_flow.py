"""Local input files -> a real S3 server -> signed URLs at submit -> the simulator fetches them -> outputs.

Everything real: SeaweedFS on loopback (it checks signatures and their expiry), the simulator
over HTTP (it fetches inputs server-side), SQLite, the steps driven in-process by ``drain``.
"""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

import pytest
from PIL import Image
from sqlalchemy import select

from batch.engine.tick import drain
from batch.manifest import load_manifest
from batch.simulator import SimulatorConfig, running_simulator
from batch.storage.localserver import LocalS3
from batch.storage.prepare import check_access, upload_inputs
from batch.storage.signing import bucket_for
from batch.store.models import Batch, Job, Output
from tests.helpers import make_runtime, make_settings
from tests.storage_helpers import create, photos_manifest


def test_local_photos_run_through_a_bucket(tmp_path: Path, sqlite_url: str, s3_env: LocalS3) -> None:
    prefix = f"t{time.time_ns()}"
    manifest_path = photos_manifest(tmp_path, s3_env, prefix, photos=3, output_url=s3_env.url(f"{prefix}/out"))
    manifest = load_manifest(manifest_path)
    check_access(manifest)
    report = upload_inputs(manifest)
    assert (report.uploaded, report.present) == (3, 0)
    with running_simulator(SimulatorConfig(latency=(0.0, 0.1), workers=4)) as sim:
        rt = make_runtime(make_settings(tmp_path, sqlite_url, sim.base_url))
        batch_id = create(rt, manifest)
        drain(rt, batch_id, timeout=60)
    with rt.sessions() as session:
        jobs = session.scalars(select(Job).where(Job.batch_id == batch_id)).all()
        outputs = session.scalars(select(Output)).all()
    assert {j.state for j in jobs} == {"succeeded"}, [j.error for j in jobs]
    # the rows keep the stable reference, never a signed URL
    assert all(url.startswith(f"s3://{s3_env.bucket}/{prefix}/inputs/") and "?" not in url
               for j in jobs for url in j.inputs["image_urls"])
    bucket = bucket_for("s3", s3_env.bucket, manifest.storage)
    assert len(outputs) == 6
    for out in outputs:
        data = Path(out.path).read_bytes()
        assert out.object_url and out.object_url.startswith(f"s3://{s3_env.bucket}/{prefix}/out/")
        key = out.object_url.split("/", 3)[3]
        stored = bucket.read(key)
        assert stored == data and hashlib.sha256(stored).hexdigest() == out.sha256
        assert out.object_bytes == out.bytes == len(data) and out.object_etag
    from batch.reports.data import load_report
    from batch.reports.html import render_html

    page = render_html(load_report(rt.sessions, batch_id))  # input thumbnails read from the bucket
    assert page.count("data:image/jpeg;base64") >= 9 and "input unavailable" not in page


def test_resubmitted_batch_uploads_nothing_again(tmp_path: Path, s3_env: LocalS3) -> None:
    prefix = f"t{time.time_ns()}"
    first = load_manifest(photos_manifest(tmp_path, s3_env, prefix, photos=4))
    assert upload_inputs(first).uploaded == 4
    again = load_manifest(photos_manifest(tmp_path, s3_env, prefix, photos=4))
    report = upload_inputs(again)
    assert (report.uploaded, report.present, report.bytes_uploaded) == (0, 4, 0)
    assert [j.inputs for j in first.jobs] == [j.inputs for j in again.jobs]


def test_same_image_in_many_jobs_is_one_object(tmp_path: Path, s3_env: LocalS3) -> None:
    prefix = f"t{time.time_ns()}"
    photos = tmp_path / "photos"
    photos.mkdir()
    Image.new("RGB", (40, 30), "navy").save(photos / "a.jpg")
    (photos / "b.jpg").write_bytes((photos / "a.jpg").read_bytes())  # same content, other name
    path = photos_manifest(tmp_path, s3_env, prefix, photos=0)
    manifest = load_manifest(path)
    assert len(manifest.jobs) == 4 and len(manifest.uploads) == 1
    assert upload_inputs(manifest).uploaded == 1
    keys = bucket_for("s3", s3_env.bucket, None).keys(f"{prefix}/")
    assert len(keys) == 1


@pytest.mark.parametrize("what", ["secret", "bucket"])
def test_wrong_credentials_or_missing_bucket_fail_validation_at_the_line(
        tmp_path: Path, s3_env: LocalS3, monkeypatch: pytest.MonkeyPatch, what: str) -> None:
    from batch.manifest import ManifestError
    from batch.storage.signing import forget_clients

    if what == "secret":
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-the-secret")
        forget_clients()
    bucket = "no-such-bucket" if what == "bucket" else s3_env.bucket
    path = photos_manifest(tmp_path, s3_env, "p", photos=1, bucket=bucket)
    manifest = load_manifest(path)
    with pytest.raises(ManifestError) as caught:
        check_access(manifest)
    text = str(caught.value)
    assert text.startswith(f"{path}:2: storage.url: s3://{bucket}")
    assert ("access denied" if what == "secret" else "not found") in text
    assert "not-the-secret" not in text and s3_env.secret_key not in text


class CrashingBucket:
    """The real bucket, but the process "dies" (an exception no one catches) during the ``crash_at``-th upload."""

    def __init__(self, real: object, crash_at: int) -> None:
        self.real, self.crash_at, self.puts = real, crash_at, 0
        self.name = real.name  # type: ignore[attr-defined]

    def head(self, key: str) -> object:
        return self.real.head(key)  # type: ignore[attr-defined]

    def put_bytes(self, key: str, data: bytes) -> object:
        self.puts += 1
        if self.puts == self.crash_at:
            raise SystemExit("killed mid-upload")
        return self.real.put_bytes(key, data)  # type: ignore[attr-defined]


def test_resume_after_crash_mid_upload_uploads_only_what_is_missing(tmp_path: Path, s3_env: LocalS3) -> None:
    from batch.storage.uploads import upload_missing

    prefix = f"t{time.time_ns()}"
    manifest = load_manifest(photos_manifest(tmp_path, s3_env, prefix, photos=5))
    real = bucket_for("s3", s3_env.bucket, manifest.storage)
    crashing = CrashingBucket(real, crash_at=3)
    with pytest.raises(SystemExit):
        upload_missing(crashing, manifest.uploads, threads=1)  # type: ignore[arg-type]
    present = [f for f in manifest.uploads if real.head(f.ref.split("/", 3)[3]) is not None]
    assert len(present) == 2  # the two finished; the interrupted one left no object
    report = upload_inputs(manifest)
    assert (report.uploaded, report.present) == (3, 2)


def test_bucket_outputs_of_a_cached_batch_are_published_too(tmp_path: Path, sqlite_url: str, s3_env: LocalS3) -> None:
    prefix = f"t{time.time_ns()}"
    path = photos_manifest(tmp_path, s3_env, prefix, photos=1, output_url=s3_env.url(f"{prefix}/first"))
    with running_simulator(SimulatorConfig(latency=(0.0, 0.0), workers=2)) as sim:
        rt = make_runtime(make_settings(tmp_path, sqlite_url, sim.base_url))
        manifest = load_manifest(path)
        upload_inputs(manifest)
        drain(rt, create(rt, manifest), timeout=60)
        path.write_text(path.read_text().replace(f"{prefix}/first", f"{prefix}/second"))
        second = create(rt, load_manifest(path))
        drain(rt, second, timeout=60)
        submits = sim.stats()["submits"]
    with rt.sessions() as session:
        jobs = session.scalars(select(Job).where(Job.batch_id == second)).all()
        outputs = session.scalars(select(Output).where(Output.job_id.in_([j.id for j in jobs]))).all()
    assert {j.state for j in jobs} == {"cached"} and submits == 2
    assert len(outputs) == 2 and all(o.object_url and f"/{prefix}/second/" in o.object_url for o in outputs)
    bucket = bucket_for("s3", s3_env.bucket, None)
    assert all(bucket.head(o.object_url.split("/", 3)[3]) is not None for o in outputs if o.object_url)


def test_a_scheduled_run_uploads_its_inputs_and_writes_to_its_own_bucket_folder(
        tmp_path: Path, sqlite_url: str, s3_env: LocalS3) -> None:
    from batch.schedules.file import load_schedules
    from batch.schedules.firing import RunState, fire_schedules
    from batch.store import db

    prefix = f"t{time.time_ns()}"
    photos_manifest(tmp_path, s3_env, prefix, photos=2, output_url=s3_env.url(f"{prefix}/out"))
    schedules = "schedules:\n  - {name: nightly, manifest: jobs.yaml, cron: '0 2 * * *'}\n"
    (tmp_path / "schedules.yaml").write_text(schedules)
    sessions = db.session_factory(sqlite_url)
    slot = 1_780_279_200.0  # 2026-06-01 02:00 UTC
    (fired,) = fire_schedules(sessions, load_schedules(tmp_path / "schedules.yaml"), slot + 1)
    assert fired.state is RunState.FIRED
    bucket = bucket_for("s3", s3_env.bucket, None)
    manifest = load_manifest(tmp_path / "jobs.yaml")
    assert all(bucket.head(f.ref.split("/", 3)[3]) is not None for f in manifest.uploads)
    with sessions() as session:
        batch = session.get_one(Batch, fired.batch_id)
    assert batch.options["output_url"].startswith(s3_env.url(f"{prefix}/out/"))
    assert batch.options["output_url"] != s3_env.url(f"{prefix}/out")


def test_failed_bucket_upload_is_not_done_and_retry_publishes(tmp_path: Path, sqlite_url: str, s3_env: LocalS3) -> None:
    """The output bucket does not exist yet: the job fails without recording files; once it does, retry works."""
    import boto3

    from batch.commands.operations import retry
    from batch.reports.data import load_report

    late = f"late{time.time_ns()}"
    path = photos_manifest(tmp_path, s3_env, f"t{time.time_ns()}", photos=1, output_url=f"s3://{late}/out")
    manifest = load_manifest(path)
    upload_inputs(manifest)
    with running_simulator(SimulatorConfig(latency=(0.0, 0.0), workers=2)) as sim:
        rt = make_runtime(make_settings(tmp_path, sqlite_url, sim.base_url, max_attempts=1))
        batch_id = create(rt, manifest)
        drain(rt, batch_id, timeout=60)
        with rt.sessions() as session:
            jobs = session.scalars(select(Job)).all()
            assert {j.state for j in jobs} == {"failed"}
            assert all("upload of" in (j.error or "") and late in (j.error or "") for j in jobs)
            assert session.scalars(select(Output)).all() == []  # nothing recorded as done
        boto3.client("s3", endpoint_url=s3_env.endpoint, aws_access_key_id=s3_env.access_key,
                     aws_secret_access_key=s3_env.secret_key, region_name="us-east-1").create_bucket(Bucket=late)
        assert retry(rt, batch_id).downloads == 2  # the paid results are fetched again, not resubmitted
        drain(rt, batch_id, timeout=60)
    rows = load_report(rt.sessions, batch_id).rows
    assert {r["state"] for r in rows} == {"succeeded"}
    assert sorted(obj for r in rows for obj in r["objects"]) == [f"s3://{late}/out/p0-beach.png",
                                                                 f"s3://{late}/out/p0-studio.png"]


def test_cache_reuses_bucket_copies_when_local_files_are_gone(tmp_path: Path, sqlite_url: str, s3_env: LocalS3) -> None:
    """Another machine, or a cleaned disk: the earlier results live on in the bucket and are not paid again."""
    import shutil

    prefix = f"t{time.time_ns()}"
    path = photos_manifest(tmp_path, s3_env, prefix, photos=1, output_url=s3_env.url(f"{prefix}/first"))
    with running_simulator(SimulatorConfig(latency=(0.0, 0.0), workers=2)) as sim:
        rt = make_runtime(make_settings(tmp_path, sqlite_url, sim.base_url))
        manifest = load_manifest(path)
        upload_inputs(manifest)
        first = create(rt, manifest)
        drain(rt, first, timeout=60)
        with rt.sessions() as session:
            local_dir = session.get_one(Batch, first).output_dir
        shutil.rmtree(local_dir)
        path.write_text(path.read_text().replace(f"{prefix}/first", f"{prefix}/second"))
        second = create(rt, load_manifest(path))
        drain(rt, second, timeout=60)
        submits = sim.stats()["submits"]
    with rt.sessions() as session:
        jobs = session.scalars(select(Job).where(Job.batch_id == second)).all()
        outputs = session.scalars(select(Output).where(Output.job_id.in_([j.id for j in jobs]))).all()
    assert {j.state for j in jobs} == {"cached"} and submits == 2
    for out in outputs:  # back on disk from the bucket, verified, and published to the new place
        assert hashlib.sha256(Path(out.path).read_bytes()).hexdigest() == out.sha256
        assert out.object_url and f"/{prefix}/second/" in out.object_url
