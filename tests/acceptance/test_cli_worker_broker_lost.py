"""A worker whose broker is lost writes nothing to the temp folder (kombu's "EMERGENCY DUMP" pickle)."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import redis
from celery import Celery

from batch.embedded import redis as redis_server
from batch.embedded.redis import kombu_url
from batch.testing.cluster import wait_until
from tests.acceptance.test_cli_embedded_redis import run_env, start_worker


def test_a_worker_that_loses_its_embedded_redis_leaves_nothing_in_the_temp_folder(tmp_path: Path) -> None:
    home, temp, log = tmp_path / "home", tmp_path / "tmp", tmp_path / "worker.log"
    temp.mkdir()
    url, _ = redis_server.ensure_redis(home)
    env = {**run_env(home, "http://127.0.0.1:9"), "NANOBATCH_REDIS_URL": url, "TMPDIR": str(temp)}
    try:
        worker = start_worker(tmp_path, env, log)
        try:
            broker = redis.Redis.from_url(url)
            assert wait_until(lambda: bool(broker.exists("_kombu.binding.celery")), timeout=30), log.read_text()
            sender = Celery(broker=kombu_url(url))
            for _ in range(3):  # held by the worker, unacknowledged, until their time: ten minutes away
                sender.send_task("workers.tasks.tick", countdown=600)
            sender.close()
            assert wait_until(lambda: broker.llen("celery") == 0, timeout=30), log.read_text()
            broker.close()
            redis_server.stop_redis(home)  # server and supervisor: the broker is gone for good
            assert wait_until(lambda: b"UNABLE TO RESTORE 3 MESSAGES" in log.read_bytes(), timeout=60), log.read_text()
            os.killpg(worker.pid, signal.SIGTERM)
            worker.wait(timeout=60)
        finally:
            if worker.poll() is None:
                os.killpg(worker.pid, signal.SIGKILL)
                worker.wait()
        text = log.read_text()
        assert "EMERGENCY DUMP" not in text
        assert "3 messages could not be put back in the queue (broker lost): dropped" in text
        assert list(temp.iterdir()) == []
    finally:
        redis_server.release(home)
        redis_server.stop_redis(home)
