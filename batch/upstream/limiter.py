"""One API budget shared by every worker on every machine, kept in Redis.

Three questions, one atomic Lua script each, all answered in the limiter's own clock (the Redis
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
"""

from __future__ import annotations

import math
import random
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import redis

Clock = Callable[[], float]
PREFIX = "nanobatch:limiter:"
PAUSE_KEY = PREFIX + "pause_until"
CAP_KEY = PREFIX + "cap"
STREAK_KEY = PREFIX + "streak"
LOG_KEYS = {"api": PREFIX + "log:api", "submit": PREFIX + "log:submit"}
CURSOR_KEYS = {"api": PREFIX + "cursor:api", "submit": PREFIX + "cursor:submit"}
UNLIMITED = 1_000_000


@dataclass(frozen=True)
class Rates:
    """Per-second ceilings for all API calls and for submits (None: no separate ceiling)."""

    requests_per_second: float
    submits_per_second: float | None = None

    def lowest(self, other: Rates | None) -> Rates:
        """The tighter of two rate settings, field by field."""
        if other is None:
            return self
        sps = [r for r in (self.submits_per_second, other.submits_per_second) if r]
        return Rates(min(self.requests_per_second, other.requests_per_second), min(sps) if sps else None)


@dataclass(frozen=True)
class Capacity:
    """How many calls the pacing has room for in the coming horizon: all calls, and submits."""

    calls: int
    submits: int


@dataclass(frozen=True)
class PlannedCall:
    """A call the tick wants to make: its kind, when it is due (seconds from now) and its rates."""

    kind: str
    due_in: float
    rates: Rates


@dataclass(frozen=True)
class LimiterPolicy:
    """Knobs of the pacing and of the 429 response."""

    pace: float = 0.97         # planned calls go at this fraction of the ceiling
    guard: float = 0.0         # the hard windows are this much longer than 1 s (jitter on the way upstream)
    decrease: float = 0.5      # after a 429 the cap drops to this fraction of what got through
    headroom: float = 0.9      # ... and climbs back to this fraction of it (squared for a 2nd 429, ...)
    ramp: float = 10.0         # seconds of the climb
    memory: float = 300.0      # seconds the cap is kept after the last 429
    min_rate: float = 0.5      # the cap never goes below this
    observe: float = 1.0       # seconds of history that say what got through
    min_observed: int = 5      # fewer grants than this in the history: pause only, no cap
    pause_base: float = 1.0    # backoff without Retry-After: base and ceiling of the pause
    pause_cap: float = 60.0
    quiet: float = 60.0        # 429 episodes closer than this count as one streak (for the backoff)


class Limiter(Protocol):
    """What the tick and the workers need from a rate-limit strategy."""

    def acquire(self, kind: str, rates: Rates) -> float:
        """0.0 if a call of ``kind`` ('submit', 'status', 'result', 'cancel') may go now, else a wait."""

    def rate_limited(self, retry_after: float | None) -> None:
        """Upstream answered 429: pause everyone and lower the rate."""

    def succeeded(self) -> None:
        """A call went through (kept for callers; the cap recovers with time, not per call)."""

    def capacity(self, rates: Rates, horizon: float) -> Capacity:
        """How many calls (and submits) fit in the next ``horizon`` seconds of the pacing."""

    def plan(self, calls: Sequence[PlannedCall]) -> list[float]:
        """Seconds from now at which each call should go, paced, in order; reserves those slots."""


class NullLimiter:
    """Grants everything: for in-process tests and unlimited runs."""

    def acquire(self, kind: str, rates: Rates) -> float:
        """Always 0: go."""
        return 0.0

    def rate_limited(self, retry_after: float | None) -> None:
        """Nothing to pause."""

    def succeeded(self) -> None:
        """Nothing to adjust."""

    def capacity(self, rates: Rates, horizon: float) -> Capacity:
        """No limit."""
        return Capacity(UNLIMITED, UNLIMITED)

    def plan(self, calls: Sequence[PlannedCall]) -> list[float]:
        """Each call when it is due."""
        return [max(0.0, c.due_in) for c in calls]


def window_for(rate: float, guard: float = 0.0) -> tuple[float, int]:
    """The moving window for ``rate``: (seconds, calls), at most ``rate`` calls in any 1 s (or 1 per 1/rate s).

    ``guard`` lengthens the window a little, so that jitter on the way upstream cannot squeeze
    ``rate + 1`` calls into one of upstream's seconds.
    """
    if rate >= 1:
        return 1.0 + guard, math.floor(rate + 1e-9)
    return (1.0 + guard) / rate, 1


_PRELUDE = """
local function num(v, d) if v then return tonumber(v) end return d end
-- tostring keeps 14 digits: 0.1 ms on an epoch time. Write numbers at full double precision.
local function fmt(x) return string.format('%.17g', x) end
local function clock(arg)
  if arg ~= '' then return tonumber(arg) end
  local t = redis.call('TIME') return tonumber(t[1]) + tonumber(t[2]) / 1e6
end
local function cap_at(key, now)
  local v = redis.call('HMGET', key, 'ceiling', 'level0', 't0', 'ramp')
  if not v[1] then return nil end
  local ceiling, level0, t0, ramp = tonumber(v[1]), tonumber(v[2]), tonumber(v[3]), tonumber(v[4])
  if now <= t0 then return level0 end
  if ramp <= 0 then return ceiling end
  return math.min(ceiling, level0 + (ceiling - level0) * (now - t0) / ramp)
end
local function eff(rate, cap) if cap and cap < rate then return cap end return rate end
local function window(rate, guard)
  if rate >= 1 then return 1.0 + guard, math.floor(rate + 1e-9) end
  return (1.0 + guard) / rate, 1
end
"""

# KEYS: pause, cap, log... ; ARGV: now, member, keep, guard, rate per log
_ACQUIRE = _PRELUDE + """
local now = clock(ARGV[1])
local pause = num(redis.call('GET', KEYS[1]), 0)
if pause > now then return fmt(pause - now) end
local cap = cap_at(KEYS[2], now)
local wait = 0
for i = 3, #KEYS do
  local w, n = window(eff(tonumber(ARGV[i + 2]), cap), tonumber(ARGV[4]))
  local from = '(' .. fmt(now - w)
  if redis.call('ZCOUNT', KEYS[i], from, '+inf') >= n then
    local e = redis.call('ZREVRANGEBYSCORE', KEYS[i], '+inf', from, 'WITHSCORES', 'LIMIT', n - 1, 1)
    wait = math.max(wait, tonumber(e[2]) + w - now, 0.001)
  end
end
if wait > 0 then return fmt(wait) end
local keep = tonumber(ARGV[3])
for i = 3, #KEYS do
  redis.call('ZADD', KEYS[i], now, ARGV[2])
  redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', now - keep)
  redis.call('PEXPIRE', KEYS[i], math.ceil(keep * 1000))
end
return '0'
"""

# KEYS: pause, cap, api log, streak; ARGV: now, retry_after ('' = none), rand, then the policy
_RATE_LIMITED = _PRELUDE + """
local now = clock(ARGV[1])
local base, pcap, decrease, headroom, ramp, memory, min_rate, observe, min_obs, quiet =
  tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7]), tonumber(ARGV[8]),
  tonumber(ARGV[9]), tonumber(ARGV[10]), tonumber(ARGV[11]), tonumber(ARGV[12]), tonumber(ARGV[13])
local paused = num(redis.call('GET', KEYS[1]), 0)
if paused > now then
  if ARGV[2] ~= '' and now + tonumber(ARGV[2]) > paused then
    paused = now + tonumber(ARGV[2])
    redis.call('SET', KEYS[1], fmt(paused), 'PX', math.ceil((paused - now + 60) * 1000))
  end
  return {'0', fmt(paused - now)}
end
local streak = redis.call('INCR', KEYS[4])
redis.call('PEXPIRE', KEYS[4], math.ceil(quiet * 1000))
local pause
if ARGV[2] ~= '' then pause = tonumber(ARGV[2]) else
  local step = math.min(pcap, base * 2 ^ (streak - 1))
  pause = step / 2 + tonumber(ARGV[3]) * step / 2
end
redis.call('SET', KEYS[1], fmt(now + pause), 'PX', math.ceil((pause + 60) * 1000))
local from = '(' .. fmt(now - observe)
local count = redis.call('ZCOUNT', KEYS[3], from, '+inf')
if count < min_obs then return {'1', fmt(pause)} end
local oldest = redis.call('ZRANGEBYSCORE', KEYS[3], from, '+inf', 'WITHSCORES', 'LIMIT', 0, 1)
local observed = count / math.max(observe, now - tonumber(oldest[2]))
local basis = eff(observed, cap_at(KEYS[2], now))
local level0 = math.max(min_rate, basis * decrease)
local ceiling = math.max(level0, basis * headroom ^ streak)
redis.call('HSET', KEYS[2], 'ceiling', fmt(ceiling), 'level0', fmt(level0),
           't0', fmt(now + pause), 'ramp', fmt(ramp))
redis.call('PEXPIRE', KEYS[2], math.ceil((memory + pause) * 1000))
return {'1', fmt(pause)}
"""

# KEYS: pause, cap, api cursor, submit cursor; ARGV: now, horizon, pace, api rate, submit rate (0 = none)
_CAPACITY = _PRELUDE + """
local now = clock(ARGV[1])
local horizon, pace = tonumber(ARGV[2]), tonumber(ARGV[3])
local start = math.max(now, num(redis.call('GET', KEYS[1]), 0))
local cap = cap_at(KEYS[2], now)
local function slots(key, rate)
  local from = math.max(start, num(redis.call('GET', key), 0))
  return math.max(0, math.ceil((now + horizon - from) * eff(rate, cap) * pace - 1e-9))
end
local calls = slots(KEYS[3], tonumber(ARGV[4]))
local submits = calls
if tonumber(ARGV[5]) > 0 then submits = math.min(calls, slots(KEYS[4], tonumber(ARGV[5]))) end
return {calls, submits}
"""

# KEYS: pause, cap, api cursor, submit cursor; ARGV: now, pace, then per call: is_submit, due_in, api, submit
_PLAN = _PRELUDE + """
local now = clock(ARGV[1])
local pace = tonumber(ARGV[2])
local start = math.max(now, num(redis.call('GET', KEYS[1]), 0))
local cap = cap_at(KEYS[2], now)
local ca = math.max(start, num(redis.call('GET', KEYS[3]), 0))
local cs = math.max(start, num(redis.call('GET', KEYS[4]), 0))
local out = {}
for i = 3, #ARGV, 4 do
  local due, ra, rs = now + tonumber(ARGV[i + 1]), eff(tonumber(ARGV[i + 2]), cap) * pace, tonumber(ARGV[i + 3])
  local t
  if ARGV[i] == '1' and rs > 0 then
    -- a submit with its own ceiling goes on the submit cursor and takes one all-calls slot from the
    -- polls, without making them wait for it
    t = math.max(due, cs)
    cs = t + 1 / (eff(rs, cap) * pace)
    ca = ca + 1 / ra
  else
    t = math.max(due, ca)
    ca = t + 1 / ra
  end
  out[#out + 1] = fmt(t - now)
end
redis.call('SET', KEYS[3], fmt(ca), 'PX', 600000)
redis.call('SET', KEYS[4], fmt(cs), 'PX', 600000)
return out
"""

# KEYS: pause, cap; ARGV: now
_STATE = _PRELUDE + """
local now = clock(ARGV[1])
local cap = cap_at(KEYS[2], now)
return {fmt(math.max(0, num(redis.call('GET', KEYS[1]), 0) - now)), cap and fmt(cap) or ''}
"""


class RedisLimiter:
    """The shared limiter: moving windows, pacing cursors, pause and AIMD cap, all kept in Redis."""

    def __init__(self, url: str, *, clock: Clock | None = None, rand: Callable[[], float] = random.random,
                 policy: LimiterPolicy | None = None) -> None:
        self._redis = redis.Redis.from_url(url)
        self._clock = clock
        self._rand = rand
        self.policy = policy or LimiterPolicy()
        self._acquire = self._redis.register_script(_ACQUIRE)
        self._rate_limited = self._redis.register_script(_RATE_LIMITED)
        self._capacity = self._redis.register_script(_CAPACITY)
        self._plan = self._redis.register_script(_PLAN)
        self._state = self._redis.register_script(_STATE)

    def _now(self) -> str:
        return "" if self._clock is None else repr(self._clock())

    def acquire(self, kind: str, rates: Rates) -> float:
        """Check the pause, the all-calls window and (for submits) the submit window; 0 or the wait."""
        keys = [PAUSE_KEY, CAP_KEY, LOG_KEYS["api"]]
        limits = [rates.requests_per_second]
        if kind == "submit" and rates.submits_per_second:
            keys.append(LOG_KEYS["submit"])
            limits.append(rates.submits_per_second)
        keep = max([self.policy.observe] + [window_for(r, self.policy.guard)[0] for r in limits])
        member = uuid.uuid4().hex
        args = [self._now(), member, repr(keep), repr(self.policy.guard), *map(repr, limits)]
        answer = self._acquire(keys=keys, args=args)
        return float(answer)

    def rate_limited(self, retry_after: float | None) -> None:
        """Pause all workers and, once per episode, cap the rate below what was getting through."""
        p = self.policy
        keys = [PAUSE_KEY, CAP_KEY, LOG_KEYS["api"], STREAK_KEY]
        args: list[Any] = [self._now(), "" if retry_after is None else repr(max(0.0, retry_after)), repr(self._rand())]
        args += [repr(v) for v in (p.pause_base, p.pause_cap, p.decrease, p.headroom, p.ramp, p.memory,
                                   p.min_rate, p.observe, p.min_observed, p.quiet)]
        self._rate_limited(keys=keys, args=args)

    def succeeded(self) -> None:
        """Nothing to do: the cap climbs back with time (no Redis round trip per call)."""

    def capacity(self, rates: Rates, horizon: float) -> Capacity:
        """Paced slots left in the next ``horizon`` seconds, for all calls and for submits."""
        keys = [PAUSE_KEY, CAP_KEY, CURSOR_KEYS["api"], CURSOR_KEYS["submit"]]
        args = [self._now(), repr(horizon), repr(self.policy.pace), repr(rates.requests_per_second),
                repr(rates.submits_per_second or 0)]
        calls, submits = self._capacity(keys=keys, args=args)
        return Capacity(int(calls), int(submits))

    def plan(self, calls: Sequence[PlannedCall]) -> list[float]:
        """Reserve paced start times for ``calls`` (in this order); seconds from now."""
        if not calls:
            return []
        keys = [PAUSE_KEY, CAP_KEY, CURSOR_KEYS["api"], CURSOR_KEYS["submit"]]
        args = [self._now(), repr(self.policy.pace)]
        for call in calls:
            args += ["1" if call.kind == "submit" else "0", repr(call.due_in), repr(call.rates.requests_per_second),
                     repr(call.rates.submits_per_second or 0)]
        return [float(t) for t in self._plan(keys=keys, args=args)]

    def state(self) -> dict[str, float | None]:
        """The pause left and the current cap (for reports and tests)."""
        pause, cap = self._state(keys=[PAUSE_KEY, CAP_KEY], args=[self._now()])
        return {"pause": float(pause), "cap": float(cap) if cap else None}
