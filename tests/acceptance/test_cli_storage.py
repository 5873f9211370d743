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
