"""The beat's mark in Redis, and how a worker started alone reads it to decide whether to run a beat."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import redis

from batch import redis as redis_server
from batch.cli.local import beat_alive
from batch.config import load_settings
from batch.engine import beat


def test_a_mark_lasts_a_few_tick_intervals(embedded_redis: str) -> None:
    client = redis.Redis.from_url(embedded_redis)
    client.flushdb()
    assert not beat.beat_alive(client)
    beat.mark_alive(client, "host:1", tick_seconds=1.0)
    assert beat.beat_alive(client) and client.ttl(beat.BEAT_KEY) == beat.MIN_TTL_SECONDS
    beat.mark_alive(client, "host:1", tick_seconds=3.0)
    assert client.ttl(beat.BEAT_KEY) == 3 * beat.MISSED_TICKS


def test_no_embedded_redis_means_no_beat_and_none_is_started(tmp_path: Path) -> None:
    settings = load_settings({"NANOBATCH_HOME": str(tmp_path / "home")})
    assert not beat_alive(settings)
    assert not redis_server.is_running(settings.home) and not settings.home.exists()


def test_the_beat_marks_itself_as_it_sends_the_tick(embedded_redis: str, tmp_path: Path) -> None:
    client = redis.Redis.from_url(embedded_redis)
    client.flushdb()
    settings = load_settings({"NANOBATCH_HOME": str(tmp_path), "NANOBATCH_REDIS_URL": embedded_redis})
    assert not beat_alive(settings)
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("NANOBATCH_")},
           "NANOBATCH_HOME": str(tmp_path), "NANOBATCH_REDIS_URL": embedded_redis}
    hook = "from workers.app import _rebind_before_tick; _rebind_before_tick(sender='workers.tasks.tick')"
    subprocess.run([sys.executable, "-c", hook], env=env, check=True, timeout=60)
    assert beat_alive(settings)


def test_a_redis_that_does_not_answer_counts_as_no_beat(tmp_path: Path) -> None:
    settings = load_settings({"NANOBATCH_HOME": str(tmp_path), "NANOBATCH_REDIS_URL": "redis://127.0.0.1:9/0"})
    assert not beat_alive(settings)
