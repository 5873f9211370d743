"""The beat's lease in Redis: one holder per scope, the others stand by; and how a worker started alone reads it."""

from __future__ import annotations

from pathlib import Path

import redis

from batch.cli.local import beat_alive
from batch.config import load_settings
from batch.embedded import redis as redis_server
from batch.engine import beat


def test_one_beat_holds_the_lease_the_others_stand_by(embedded_redis: str) -> None:
    client = redis.Redis.from_url(embedded_redis)
    client.flushdb()
    first, second = (beat.BeatLease(client, who, tick_seconds=1.0) for who in ("host:1", "host:2"))
    assert not beat.beat_alive(client)
    assert first.hold() and not second.hold()
    assert first.hold()  # renewed
    assert beat.holder(client) == "host:1" and 0 < client.pttl(first.key) <= beat.lease_ms(1.0)
    second.release()  # not its lease: nothing happens
    assert beat.holder(client) == "host:1"
    first.release()
    assert second.hold() and not first.hold() and beat.holder(client) == "host:2"


def test_each_scope_has_its_own_beat(embedded_redis: str) -> None:
    client = redis.Redis.from_url(embedded_redis)
    client.flushdb()
    shared = beat.BeatLease(client, "host:1", tick_seconds=1.0)
    scoped = beat.BeatLease(client, "host:2", tick_seconds=1.0, scope="batch-7")
    assert shared.hold() and scoped.hold()
    assert beat.beat_alive(client) and beat.beat_alive(client, "batch-7") and not beat.beat_alive(client, "batch-8")


def test_a_lease_lasts_a_tick_and_a_half(embedded_redis: str) -> None:
    assert beat.lease_ms(1.0) == 1500 and beat.lease_ms(4.0) == 6000
    assert beat.lease_ms(0.1) == beat.MIN_LEASE_MS
    assert beat.look_every(1.0) * beat.LOOKS_PER_TICK == 1.0


def test_no_embedded_redis_means_no_beat_and_none_is_started(tmp_path: Path) -> None:
    settings = load_settings({"NANOBATCH_HOME": str(tmp_path / "home")})
    assert not beat_alive(settings)
    assert not redis_server.is_running(settings.home) and not settings.home.exists()


def test_a_worker_started_alone_sees_a_beat_that_holds_the_lease(embedded_redis: str, tmp_path: Path) -> None:
    client = redis.Redis.from_url(embedded_redis)
    client.flushdb()
    settings = load_settings({"NANOBATCH_HOME": str(tmp_path), "NANOBATCH_REDIS_URL": embedded_redis})
    assert not beat_alive(settings)
    beat.BeatLease(client, "host:1", tick_seconds=1.0).hold()
    assert beat_alive(settings)


def test_a_redis_that_does_not_answer_counts_as_no_beat(tmp_path: Path) -> None:
    settings = load_settings({"NANOBATCH_HOME": str(tmp_path), "NANOBATCH_REDIS_URL": "redis://127.0.0.1:9/0"})
    assert not beat_alive(settings)
