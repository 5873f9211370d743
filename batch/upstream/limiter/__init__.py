"""One API budget shared by every worker on every machine, kept in Redis.

Three questions, one atomic operation each, all answered in the limiter's own clock (the Redis
server's ``TIME`` unless a clock is injected, so machines with skewed clocks still agree):

* ``acquire``: may this call go now? A moving window (a log of grant times per window, as in the
  ``limits`` library's moving-window strategy) allows at most ``rate`` calls in any 1-second
  window for all calls, and separately for submits. Answers 0, or the seconds to wait.
* ``capacity`` / ``plan``: the tick's pacing. Calls are given start times spaced ``1 / (rate *
  pace)`` apart from a shared cursor, so they reach upstream evenly instead of in bursts, a few
  per cent under the ceiling to absorb the jitter between our clock and upstream's.
* ``rate_limited``: a 429 anywhere. Everyone pauses for ``Retry-After`` (or an exponential,
  jittered backoff when absent) and the rate is capped (AIMD): the cap drops to half the rate
  that was getting through (over the last second), then climbs back in a straight line to 90 %
  of it and stays there
  for ``memory`` seconds; a second 429 before that aims lower again. A limit set too high heals
  itself, and 429s stop.

Why not ``limits`` itself: its Redis strategies read ``time.time()`` inside the storage (no clock
to inject, no shared server clock), have whole-second windows, and cost a round trip per window;
the pause and the cap must be read atomically with the window anyway.

The package keeps the *strategy* apart from where its state lives, in the style of dramatiq's
rate limiters (small classes behind one ``acquire()``):

* ``base``: the vocabulary (``Rates``, ``Capacity``, ``PlannedCall``, ``LimiterPolicy``), the
  ``Limiter`` protocol the tick and the steps use, and ``NullLimiter``;
* ``strategy``: ``SharedLimiter``, which turns a call's kind and rates into the windows, the
  backoff and the pacing arguments, and the ``Backend`` protocol of five atomic operations;
* ``redis_backend``: those operations as Lua scripts (``lua/*.lua``, one Redis round trip each),
  and ``RedisLimiter``, the one the workers use;
* ``memory``: the same operations in Python for one process (``MemoryLimiter``), for unit tests.

Key names live in ``batch.embedded.redis`` with every other Redis key.
"""

from batch.upstream.limiter.base import (
    UNLIMITED,
    Capacity,
    Clock,
    Limiter,
    LimiterPolicy,
    NullLimiter,
    PlannedCall,
    Rates,
    window_for,
)
from batch.upstream.limiter.memory import MemoryBackend, MemoryLimiter
from batch.upstream.limiter.redis_backend import RedisBackend, RedisLimiter
from batch.upstream.limiter.strategy import Backend, SharedLimiter

__all__ = [
    "UNLIMITED",
    "Backend",
    "Capacity",
    "Clock",
    "Limiter",
    "LimiterPolicy",
    "MemoryBackend",
    "MemoryLimiter",
    "NullLimiter",
    "PlannedCall",
    "Rates",
    "RedisBackend",
    "RedisLimiter",
    "SharedLimiter",
    "window_for",
]
