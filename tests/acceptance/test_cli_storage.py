"""The CLI with local photos and a real S3 server: validate checks the bucket, run uploads and publishes."""

from __future__ import annotations

import json
import time
from pathlib import Path

from batch.simulator import spawn_simulator
from batch.storage.localserver import LocalS3
from tests.acceptance.test_cli import nanobatch
from tests.storage_helpers import photos_manifest


def test_validate_refuses_wrong_credentials_before_anything_is_written(tmp_path: Path, local_s3: LocalS3) -> None:
    manifest = photos_manifest(tmp_path, local_s3, f"t{time.time_ns()}", photos=2)
    env = {**local_s3.env(), "AWS_SECRET_ACCESS_KEY": "wrong-secret", "RUNCOMFY_API_TOKEN": "t"}
    for verb in (["validate"], ["submit"]):
        done = nanobatch([*verb, str(manifest)], tmp_path / "home", tmp_path, RUNCOMFY_API_BASE="http://127.0.0.1:9",
                         **env)
        assert done.returncode == 2, done.stdout + done.stderr
        assert done.stderr.startswith(f"error: {manifest}:2: storage.url: s3://{local_s3.bucket}/")
        assert "access denied" in done.stderr and "wrong-secret" not in done.stdout + done.stderr
    assert not (tmp_path / "home" / "nanobatch.db").exists()
    good = nanobatch(["validate", str(manifest)], tmp_path / "home", tmp_path, **local_s3.env())
    assert good.returncode == 0 and "ok, 4 jobs" in good.stdout, good.stderr


def test_run_local_photos_to_a_bucket(tmp_path: Path, local_s3: LocalS3) -> None:
    prefix = f"t{time.time_ns()}"
    manifest = photos_manifest(tmp_path, local_s3, prefix, photos=2, output_url=local_s3.url(f"{prefix}/out"))
    with spawn_simulator(["--latency", "0.2-0.5", "--workers", "4"]) as sim:
        env = {**local_s3.env(), "RUNCOMFY_API_BASE": sim.base_url, "RUNCOMFY_API_TOKEN": "t"}
        done = nanobatch(["run", str(manifest)], tmp_path / "home", tmp_path, **env)
        assert done.returncode == 0, done.stdout + done.stderr
        again = nanobatch(["run", str(manifest)], tmp_path / "home", tmp_path, **env)  # all cached now
        assert again.returncode == 0, again.stdout + again.stderr
    status = json.loads(nanobatch(["status", "2", "--json"], tmp_path / "home", tmp_path).stdout)
    assert status["counts"] == {"cached": 4}
    from batch.storage.store import open_store

    bucket = open_store(local_s3.url(), env=local_s3.env())
    for stem in ("p0", "p1"):
        for style in ("studio", "beach"):
            assert bucket.head(f"{prefix}/out/{stem}-{style}.png") is not None


def ran(args: list[str], tmp_path: Path, env: dict[str, str]) -> str:
    """Run ``nanobatch ARGS`` with the home in ``tmp_path``; its stdout, once it exited 0."""
    done = nanobatch(args, tmp_path / "home", tmp_path, **env)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def _objects(local_s3: LocalS3, prefix: str) -> list[str]:
    import boto3

    client = boto3.client("s3", endpoint_url=local_s3.endpoint, aws_access_key_id=local_s3.access_key,
                          aws_secret_access_key=local_s3.secret_key, region_name="us-east-1")
    found = client.list_objects_v2(Bucket=local_s3.bucket, Prefix=prefix).get("Contents", [])
    return sorted(obj["Key"] for obj in found)


def test_a_rerun_cached_at_submit_uploads_to_its_own_bucket_folder(tmp_path: Path, local_s3: LocalS3) -> None:
    """Jobs finished ``cached`` by ``submit`` itself are uploaded to the new output_dir, and recorded there."""
    prefix = f"t{time.time_ns()}"
    manifest = photos_manifest(tmp_path, local_s3, prefix, photos=2, output_url=local_s3.url(f"{prefix}/out1"))
    with spawn_simulator(["--latency", "0", "--workers", "4"]) as sim:
        env = {**local_s3.env(), "RUNCOMFY_API_BASE": sim.base_url, "RUNCOMFY_API_TOKEN": "t"}
        ran(["run", str(manifest)], tmp_path, env)
        manifest.write_text(manifest.read_text().replace(f"{prefix}/out1", f"{prefix}/out2"))
        ran(["submit", str(manifest)], tmp_path, env)  # no worker: all at submit
        assert sim.stats()["submits"] == 4
    status = json.loads(nanobatch(["status", "2", "--json"], tmp_path / "home", tmp_path).stdout)
    assert status["counts"] == {"cached": 4}
    expected = sorted(f"{prefix}/out2/p{i}-{style}.png" for i in range(2) for style in ("studio", "beach"))
    assert _objects(local_s3, f"{prefix}/out2/") == expected
    report = tmp_path / "r.json"
    ran(["report", "2", "-o", str(report)], tmp_path, {})
    rows = json.loads(report.read_text())["jobs"]
    assert sorted(o for row in rows for o in row["objects"]) == [f"s3://{local_s3.bucket}/{key}" for key in expected]


def test_a_rerun_with_local_files_gone_and_the_endpoint_only_in_the_manifest_pays_nothing(
        tmp_path: Path, local_s3: LocalS3) -> None:
    """The manifest's storage.endpoint_url reaches the bucket for the cache's lookup and restore, and for the
    report's input thumbnails: not the environment alone."""
    import shutil

    prefix = f"t{time.time_ns()}"
    manifest = photos_manifest(tmp_path, local_s3, prefix, photos=3, output_url=local_s3.url(f"{prefix}/out1"))
    env = {k: v for k, v in local_s3.env().items() if not k.startswith("AWS_ENDPOINT_URL")}
    with spawn_simulator(["--latency", "0", "--workers", "4"]) as sim:
        env.update(RUNCOMFY_API_BASE=sim.base_url, RUNCOMFY_API_TOKEN="t")
        ran(["run", str(manifest)], tmp_path, env)
        shutil.rmtree(tmp_path / "out")  # another machine, or a cleaned disk: only the bucket copies are left
        manifest.write_text(manifest.read_text().replace(f"{prefix}/out1", f"{prefix}/out2"))
        ran(["run", str(manifest)], tmp_path, env)
        assert sim.stats()["submits"] == 6  # the first run's, and not one more
    status = json.loads(nanobatch(["status", "2", "--json"], tmp_path / "home", tmp_path).stdout)
    assert status["counts"] == {"cached": 6}
    assert len(list((tmp_path / "out").rglob("*.png"))) == 6  # restored from the bucket, verified
    page = tmp_path / "r.html"
    ran(["report", "2", "-o", str(page)], tmp_path, env)
    assert "input unavailable" not in page.read_text()
