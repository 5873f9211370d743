"""A local photo is named as the manifest wrote it (``photos/sku-900.jpg``), not by the object it was
uploaded to (``s3://.../inputs/<sha256>.jpg``): in errors, report rows and the contact sheet."""

from __future__ import annotations

import json
import time
from pathlib import Path

import obstore
from PIL import Image
from starlette.testclient import TestClient

from batch.core.cost import PriceTable
from batch.simulator import spawn_simulator
from batch.storage.localserver import LocalS3
from batch.storage.store import open_store
from batch.store import db
from batch.web.app import WebState, build_app
from batch.web.thumbcache import ThumbCache
from tests.acceptance.test_cli import nanobatch


def test_a_failed_local_input_is_named_by_its_path(tmp_path: Path, local_s3: LocalS3) -> None:
    (tmp_path / "photos").mkdir()
    Image.new("RGB", (64, 48), "red").save(tmp_path / "photos" / "sku-900.jpg")
    prefix = f"t{time.time_ns()}"
    manifest = tmp_path / "jobs.yaml"
    manifest.write_text(f"name: names\nstorage:\n  url: s3://{local_s3.bucket}/{prefix}\n"
                        f"  endpoint_url: {local_s3.endpoint}\noutput_dir: out\n"
                        "jobs:\n  - {id: sku-900-studio, prompt: studio shot, image_urls: [photos/sku-900.jpg]}\n")
    home = tmp_path / "home"
    with spawn_simulator(["--latency", "0"]) as sim:
        env = {**local_s3.env(), "RUNCOMFY_API_BASE": sim.base_url, "RUNCOMFY_API_TOKEN": "t",
               "NANOBATCH_MAX_ATTEMPTS": "2"}
        done = nanobatch(["submit", str(manifest)], home, tmp_path, **env)
        assert done.returncode == 0, done.stdout + done.stderr
        bucket = open_store(local_s3.url(), env=local_s3.env())
        (key,) = bucket.keys(f"{prefix}/inputs/")
        obstore.delete(bucket.client, key)  # upstream cannot fetch the signed input any more
        done = nanobatch(["resume", "1"], home, tmp_path, **env)
        assert done.returncode == 1, done.stdout + done.stderr
    object_name = key.rsplit("/", 1)[1]
    report = tmp_path / "report.json"
    assert nanobatch(["report", "1", "-o", str(report)], home, tmp_path).returncode == 0
    (row,) = json.loads(report.read_text())["jobs"]
    assert row["state"] == "failed" and row["inputs"] == [f"s3://{local_s3.bucket}/{key}"]
    assert row["input_files"] == ["photos/sku-900.jpg"]
    assert "photos/sku-900.jpg" in row["error"] and object_name not in row["error"], row["error"]

    sessions = db.session_factory(f"sqlite:///{home / 'nanobatch.db'}")
    try:
        state = WebState(sessions, ThumbCache(tmp_path / "thumbs"), PriceTable(), "c" * 32, "tester")
        page = TestClient(build_app(state), base_url="http://127.0.0.1").get("/batch/1").text
    finally:
        db.dispose_engines()
    assert 'title="photos/sku-900.jpg">sku-900</span>' in page  # the item's heading: its SKU, the path written
    tile = page[page.index('<div class="ph">failed'):]
    tile = tile[:tile.index("</div>")]
    assert "photos/sku-900.jpg" in tile and object_name not in tile, tile  # the failed tile's error
