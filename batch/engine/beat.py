"""Whether a beat is alive anywhere: the beat marks a key in Redis each time it sends the tick.

A worker started alone (``nanobatch worker``) reads it to decide whether to run a beat of its
own: without one nobody sends the tick and a submitted batch never moves. A second beat is
harmless (the tick runs under a lock, schedule slots are unique in the database), so two workers
that start at the same moment and both run one cost a little idle work, nothing more.
"""

from __future__ import annotations

import math

import redis

from batch.redis import BEAT_KEY

MISSED_TICKS = 5  # a beat is taken for dead after this many tick intervals without a tick
MIN_TTL_SECONDS = 5


def ttl_for(tick_seconds: float) -> int:
    """How long the mark lasts: a few tick intervals, so that one slow tick does not look like death."""
    return max(MIN_TTL_SECONDS, math.ceil(MISSED_TICKS * tick_seconds))


def mark_alive(client: redis.Redis, who: str, tick_seconds: float) -> None:
    """Called by the beat as it sends each tick: "a beat (``who``) is alive"."""
    client.set(BEAT_KEY, who, ex=ttl_for(tick_seconds))


def beat_alive(client: redis.Redis) -> bool:
    """True if some beat sent a tick within its mark's lifetime."""
    return bool(client.exists(BEAT_KEY))
