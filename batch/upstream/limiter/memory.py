"""The limiter's state in this process's memory: the same five operations as the Lua scripts.

For unit tests (and a single process that wants a real limiter without Redis). Each operation
runs under one lock, as each script runs atomically in Redis, and follows its script line for
line; ``tests/unit/test_limiter_backends.py`` runs the Redis backend's scenarios against it. As in
Redis, the computations use the limiter's clock while entries expire in the store's own time
(``ttl_clock``, monotonic by default), so a test's fake clock ages the windows but not the keys.
"""

from __future__ import annotations

import bisect
import math
import random
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from batch.upstream.limiter.base import Clock, LimiterPolicy, window_for
from batch.upstream.limiter.strategy import PaceRequest, SharedLimiter, Window

CURSOR_TTL = 600.0  # as plan.lua: a cursor untouched for 10 minutes is forgotten


@dataclass
class _Cap:
    ceiling: float
    level0: float
    t0: float
    ramp: float

    def at(self, now: float) -> float:
        if now <= self.t0:
            return self.level0
        if self.ramp <= 0:
            return self.ceiling
        return min(self.ceiling, self.level0 + (self.ceiling - self.level0) * (now - self.t0) / self.ramp)


def _eff(rate: float, cap: float | None) -> float:
    return cap if cap is not None and cap < rate else rate


class MemoryBackend:
    """Pause, cap, streak, grant logs and pacing cursors in dicts, each entry with its expiry."""

    def __init__(self, *, ttl_clock: Clock = time.monotonic) -> None:
        self._ttl_clock = ttl_clock
        self._lock = threading.Lock()
        self._values: dict[str, tuple[object, float]] = {}  # key -> (value, expires at, in ttl_clock time)

    # -- a tiny keyed store with expiry, as the scripts use Redis --

    def _get(self, key: str) -> object | None:
        found = self._values.get(key)
        if found is None or found[1] <= self._ttl_clock():
            self._values.pop(key, None)
            return None
        return found[0]

    def _set(self, key: str, value: object, ttl: float) -> None:
        self._values[key] = (value, self._ttl_clock() + ttl)

    def _number(self, key: str) -> float:
        value = self._get(key)
        return float(value) if isinstance(value, int | float) else 0.0

    def _log(self, name: str) -> list[float]:
        value = self._get(f"log:{name}")
        return value if isinstance(value, list) else []

    def _cap(self, now: float) -> float | None:
        cap = self._get("cap")
        return cap.at(now) if isinstance(cap, _Cap) else None

    @staticmethod
    def _now(now: float | None) -> float:
        return time.time() if now is None else now

    # -- the five operations --

    def take(self, now: float | None, windows: Sequence[Window], keep: float, guard: float, member: str) -> float:
        """As ``acquire.lua``: the pause, then every window; a grant is logged in every window."""
        with self._lock:
            t = self._now(now)
            pause = self._number("pause")
            if pause > t:
                return pause - t
            cap = self._cap(t)
            wait = 0.0
            for name, rate in windows:
                seconds, calls = window_for(_eff(rate, cap), guard)
                log = self._log(name)
                inside = log[bisect.bisect_right(log, t - seconds):]  # scores > now - window
                if len(inside) >= calls:
                    wait = max(wait, inside[-calls] + seconds - t, 0.001)
            if wait > 0:
                return wait
            for name, _ in windows:
                log = self._log(name)
                bisect.insort(log, t)
                self._set(f"log:{name}", log[bisect.bisect_right(log, t - keep):], keep)
            return 0.0

    def penalize(self, now: float | None, retry_after: float | None, rand: float, policy: LimiterPolicy) -> None:
        """As ``rate_limited.lua``: extend a running pause, or start an episode (pause, then the cap)."""
        with self._lock:
            t = self._now(now)
            paused = self._number("pause")
            if paused > t:
                if retry_after is not None and t + retry_after > paused:
                    self._set("pause", t + retry_after, retry_after + 60)
                return
            streak = int(self._number("streak")) + 1
            self._set("streak", streak, policy.quiet)
            if retry_after is not None:
                pause = retry_after
            else:
                step = min(policy.pause_cap, policy.pause_base * 2 ** (streak - 1))
                pause = step / 2 + rand * step / 2
            self._set("pause", t + pause, pause + 60)
            self._cap_after(t, pause, streak, policy)

    def _cap_after(self, t: float, pause: float, streak: int, p: LimiterPolicy) -> None:
        log = self._log("api")
        inside = log[bisect.bisect_right(log, t - p.observe):]
        if len(inside) < p.min_observed:
            return
        observed = len(inside) / max(p.observe, t - inside[0])
        basis = _eff(observed, self._cap(t))
        level0 = max(p.min_rate, basis * p.decrease)
        ceiling = max(level0, basis * p.headroom ** streak)
        self._set("cap", _Cap(ceiling, level0, t + pause, p.ramp), p.memory + pause)

    def room(self, now: float | None, horizon: float, pace: float, rate: float, submit_rate: float) -> tuple[int, int]:
        """As ``capacity.lua``: slots between the later of now, the pause and each cursor, and the horizon."""
        with self._lock:
            t = self._now(now)
            start = max(t, self._number("pause"))
            cap = self._cap(t)

            def slots(cursor: str, r: float) -> int:
                begin = max(start, self._number(cursor))
                return max(0, math.ceil((t + horizon - begin) * _eff(r, cap) * pace - 1e-9))

            calls = slots("cursor:api", rate)
            submits = min(calls, slots("cursor:submit", submit_rate)) if submit_rate > 0 else calls
            return calls, submits

    def reserve(self, now: float | None, pace: float, calls: Sequence[PaceRequest]) -> list[float]:
        """As ``plan.lua``: each call at the later of its due time and its cursor; cursors moved on."""
        with self._lock:
            t = self._now(now)
            start = max(t, self._number("pause"))
            cap = self._cap(t)
            ca = max(start, self._number("cursor:api"))
            cs = max(start, self._number("cursor:submit"))
            out: list[float] = []
            for is_submit, due_in, rate, submit_rate in calls:
                due, ra = t + due_in, _eff(rate, cap) * pace
                if is_submit and submit_rate > 0:
                    at = max(due, cs)
                    cs = at + 1 / (_eff(submit_rate, cap) * pace)
                    ca = ca + 1 / ra
                else:
                    at = max(due, ca)
                    ca = at + 1 / ra
                out.append(at - t)
            self._set("cursor:api", ca, CURSOR_TTL)
            self._set("cursor:submit", cs, CURSOR_TTL)
            return out

    def peek(self, now: float | None) -> tuple[float, float | None]:
        """As ``state.lua``: the pause left and the cap."""
        with self._lock:
            t = self._now(now)
            return max(0.0, self._number("pause") - t), self._cap(t)


class MemoryLimiter(SharedLimiter):
    """The shared limiter's strategy on a ``MemoryBackend``: one process only (unit tests)."""

    def __init__(self, *, clock: Clock | None = None, rand: Callable[[], float] = random.random,
                 policy: LimiterPolicy | None = None, ttl_clock: Clock = time.monotonic) -> None:
        super().__init__(MemoryBackend(ttl_clock=ttl_clock), clock=clock, rand=rand, policy=policy)
