"""The limiter's state in Redis: each operation is one Lua script, so one round trip, atomic.

The scripts are the ``lua/*.lua`` files next to this module (package data, so a built wheel
carries them), read once with ``importlib.resources``; each is the shared ``prelude.lua`` plus its
own body. Numbers cross as ``repr`` strings and come back as ``%.17g`` strings: full precision.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from functools import cache
from importlib import resources
from typing import Any

import redis

from batch.embedded.redis import CAP_KEY, CURSOR_KEYS, LOG_KEYS, PAUSE_KEY, STREAK_KEY
from batch.upstream.limiter.base import Clock, LimiterPolicy
from batch.upstream.limiter.strategy import PaceRequest, SharedLimiter, Window

SCRIPTS = ("acquire", "rate_limited", "capacity", "plan", "state")


@cache
def script_source(name: str) -> str:
    """The Lua source of script ``name``: the prelude, then the script's own file."""
    folder = resources.files(__package__).joinpath("lua")
    return folder.joinpath("prelude.lua").read_text() + folder.joinpath(f"{name}.lua").read_text()


def _at(now: float | None) -> str:
    return "" if now is None else repr(now)  # '': the script reads the server's TIME


class RedisBackend:
    """The five operations of ``strategy.Backend`` as Redis scripts (registered, so sent by SHA)."""

    def __init__(self, url: str) -> None:
        self._redis = redis.Redis.from_url(url)
        self._scripts = {name: self._redis.register_script(script_source(name)) for name in SCRIPTS}

    def take(self, now: float | None, windows: Sequence[Window], keep: float, guard: float, member: str) -> float:
        """One grant through every window, or the wait (``acquire.lua``)."""
        keys = [PAUSE_KEY, CAP_KEY, *(LOG_KEYS[name] for name, _ in windows)]
        args = [_at(now), member, repr(keep), repr(guard), *(repr(rate) for _, rate in windows)]
        return float(self._scripts["acquire"](keys=keys, args=args))

    def penalize(self, now: float | None, retry_after: float | None, rand: float, policy: LimiterPolicy) -> None:
        """Pause and cap after a 429 (``rate_limited.lua``)."""
        p = policy
        args: list[Any] = [_at(now), "" if retry_after is None else repr(retry_after), repr(rand)]
        args += [repr(v) for v in (p.pause_base, p.pause_cap, p.decrease, p.headroom, p.ramp, p.memory,
                                   p.min_rate, p.observe, p.min_observed, p.quiet)]
        self._scripts["rate_limited"](keys=[PAUSE_KEY, CAP_KEY, LOG_KEYS["api"], STREAK_KEY], args=args)

    def room(self, now: float | None, horizon: float, pace: float, rate: float, submit_rate: float) -> tuple[int, int]:
        """Paced slots left (``capacity.lua``)."""
        keys = [PAUSE_KEY, CAP_KEY, CURSOR_KEYS["api"], CURSOR_KEYS["submit"]]
        calls, submits = self._scripts["capacity"](
            keys=keys, args=[_at(now), repr(horizon), repr(pace), repr(rate), repr(submit_rate)])
        return int(calls), int(submits)

    def reserve(self, now: float | None, pace: float, calls: Sequence[PaceRequest]) -> list[float]:
        """Paced start times, cursors moved (``plan.lua``)."""
        keys = [PAUSE_KEY, CAP_KEY, CURSOR_KEYS["api"], CURSOR_KEYS["submit"]]
        args = [_at(now), repr(pace)]
        for is_submit, due_in, rate, submit_rate in calls:
            args += ["1" if is_submit else "0", repr(due_in), repr(rate), repr(submit_rate)]
        return [float(t) for t in self._scripts["plan"](keys=keys, args=args)]

    def peek(self, now: float | None) -> tuple[float, float | None]:
        """The pause left and the cap (``state.lua``)."""
        pause, cap = self._scripts["state"](keys=[PAUSE_KEY, CAP_KEY], args=[_at(now)])
        return float(pause), float(cap) if cap else None


class RedisLimiter(SharedLimiter):
    """The shared limiter every worker on every machine uses: its state in the Redis at ``url``."""

    def __init__(self, url: str, *, clock: Clock | None = None, rand: Callable[[], float] = random.random,
                 policy: LimiterPolicy | None = None) -> None:
        super().__init__(RedisBackend(url), clock=clock, rand=rand, policy=policy)
