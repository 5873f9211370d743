"""One beat per broker and scope: a lease in Redis, held by the beat that sends the tick.

Every worker keeps a beat process of its own (``batch.embedded.keeper``), and ``nanobatch beat`` runs one
too; each looks at the lease several times per tick interval. The holder renews it and sends the
tick, the schedules and the notifications; the others stand by and send nothing. A holder that
dies stops renewing: its lease lapses after ``LEASE_TICKS`` tick intervals, and a standby takes it
at its next look, within two tick intervals of the loss. Two beats for a moment (a holder that
paused past its lease) cost a little idle work, nothing more: the tick runs under a lock and
schedule slots are unique in the database.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import redis

from batch.embedded.redis import beat_lease_key

LEASE_TICKS = 1.5     # the lease lasts this many tick intervals without a renewal
LOOKS_PER_TICK = 4    # how often per tick interval a beat renews (holder) or tries to take (standby) it
MIN_LEASE_MS = 500

# renew the lease if it is ours, else take it if it is free; 1 when held afterwards
_HOLD = """
if redis.call('get', KEYS[1]) == ARGV[1] then
  redis.call('pexpire', KEYS[1], ARGV[2])
  return 1
end
if redis.call('set', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return 1 end
return 0
"""
_RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end
return 0
"""


def lease_ms(tick_seconds: float) -> int:
    """How long the lease lasts without renewal, in milliseconds."""
    return max(MIN_LEASE_MS, math.ceil(1000 * LEASE_TICKS * tick_seconds))


def look_every(tick_seconds: float) -> float:
    """Seconds between two looks at the lease."""
    return tick_seconds / LOOKS_PER_TICK


@dataclass
class BeatLease:
    """The lease of one scope's beat (``scope`` None: the shared workers'), as seen by beat ``who``."""

    client: redis.Redis
    who: str
    tick_seconds: float
    scope: str | None = None

    @property
    def key(self) -> str:
        """The lease's Redis key."""
        return beat_lease_key(self.scope)

    def hold(self) -> bool:
        """Renew the lease if this beat holds it, else take it if free; whether this beat holds it now."""
        return bool(self.client.eval(_HOLD, 1, self.key, self.who, lease_ms(self.tick_seconds)))

    def release(self) -> None:
        """Give the lease up (if still held), so that a standby takes over at once."""
        self.client.eval(_RELEASE, 1, self.key, self.who)


def beat_alive(client: redis.Redis, scope: str | None = None) -> bool:
    """True if some beat of ``scope`` holds the lease."""
    return bool(client.exists(beat_lease_key(scope)))


def any_beat_alive(client: redis.Redis) -> bool:
    """True if a beat of any scope (the shared workers', or a run's) holds its lease."""
    return any(True for _ in client.scan_iter(match=beat_lease_key(None) + "*", count=100))


def holder(client: redis.Redis, scope: str | None = None) -> str | None:
    """Who holds the lease of ``scope`` (``host:pid``), None when no beat does."""
    value = client.get(beat_lease_key(scope))
    return value.decode() if isinstance(value, bytes) else value
