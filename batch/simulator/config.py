"""The simulator's settings: one dataclass holding every command-line flag, with checks."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from batch.simulator.shapes import DEFAULT_SHAPE, RESULT_SHAPES

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8765
DEFAULT_LATENCY: tuple[float, float] = (1.0, 3.0)

_RATE_FIELDS = ("fail_rate", "error_rate", "drop_rate", "slow_rate", "slow_download_rate")


def parse_latency(text: str) -> tuple[float, float]:
    """Parse ``A-B`` or ``A`` (seconds) into ``(low, high)``; ``ValueError`` when malformed.

    >>> parse_latency("10-40")
    (10.0, 40.0)
    >>> parse_latency("0")
    (0.0, 0.0)
    """
    parts = text.strip().split("-")
    if len(parts) not in (1, 2) or not all(p.strip() for p in parts):
        raise ValueError(f"expected seconds as A-B or A, got {text!r}")
    try:
        values = [float(p) for p in parts]
    except ValueError:
        raise ValueError(f"expected numbers of seconds as A-B or A, got {text!r}") from None
    low, high = values[0], values[-1]
    if not all(math.isfinite(v) for v in values) or low < 0:
        raise ValueError(f"latency must be finite and >= 0, got {text!r}")
    if high < low:
        raise ValueError(f"latency range must be low-high with low <= high, got {text!r}")
    return low, high


@dataclass(frozen=True)
class SimulatorConfig:
    """Every setting of the simulator (one field per CLI flag, same defaults).

    Faults are all off by default. ``rate_limit`` and ``max_in_flight`` are off when ``None``.
    Money is charged for succeeded jobs only (failed and cancelled jobs cost nothing).
    """

    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    tokens: tuple[str, ...] = ()
    workers: int = 4
    latency: tuple[float, float] = DEFAULT_LATENCY
    result_ttl: float = 3600.0
    rate_limit: float | None = None
    max_in_flight: int | None = None
    fail_rate: float = 0.0
    error_rate: float = 0.0
    drop_rate: float = 0.0
    slow_rate: float = 0.0
    slow_seconds: float = 30.0
    slow_download_rate: float = 0.0  # hosted files trickled out over slow_seconds
    seed: int | None = None
    journal: Path | None = None
    price_1k2k: float = 0.15
    price_4k: float = 0.30
    fetch_timeout: float = 30.0
    journal_flush_seconds: float = 0.5
    result_shape: str = DEFAULT_SHAPE  # how /result lists the outputs: one of shapes.RESULT_SHAPES
    request_id_prefix: str = ""  # put before every request id: an odd upstream ("../../v1/x?y=")
    answer_cost: str | None = None  # JSON text /result gives as a succeeded job's cost ("1e30", "-98.95")
    balance: float | None = None  # dollars: once charges reach it, submits answer 402 (code 400002)
    result_errors: int = 0  # the first N /result reads of each request answer 503 (code 503001)

    def __post_init__(self) -> None:
        for problem in self.problems():
            raise ValueError(problem)

    def problems(self) -> list[str]:
        """Every setting that is out of range, as ``name: reason`` strings."""
        found: list[str] = []
        if not 0 <= self.port <= 65535:
            found.append(f"port: must be 0..65535, got {self.port}")
        if self.workers < 1:
            found.append(f"workers: must be >= 1, got {self.workers}")
        low, high = self.latency
        if not 0 <= low <= high:
            found.append(f"latency: must be 0 <= low <= high, got {self.latency}")
        for name in _RATE_FIELDS:
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                found.append(f"{name}: must be a fraction 0..1, got {value}")
        found.extend(self._limit_problems())
        return found

    def _limit_problems(self) -> list[str]:
        found: list[str] = []
        if self.rate_limit is not None and self.rate_limit <= 0:
            found.append(f"rate_limit: must be > 0 requests/s, got {self.rate_limit}")
        if self.max_in_flight is not None and self.max_in_flight < 1:
            found.append(f"max_in_flight: must be >= 1, got {self.max_in_flight}")
        for name in ("result_ttl", "slow_seconds", "price_1k2k", "price_4k", "fetch_timeout", "balance"):
            if (getattr(self, name) or 0) < 0:
                found.append(f"{name}: must be >= 0, got {getattr(self, name)}")
        if self.result_shape not in RESULT_SHAPES:
            found.append(f"result_shape: must be one of {', '.join(RESULT_SHAPES)}, got {self.result_shape!r}")
        if self.answer_cost is not None and not _is_json(self.answer_cost):
            found.append(f"answer_cost: must be JSON text (a number, a string, null), got {self.answer_cost!r}")
        if self.result_errors < 0:
            found.append(f"result_errors: must be >= 0, got {self.result_errors}")
        if any(not t for t in self.tokens):
            found.append("tokens: an accepted token must not be empty")
        return found

    def answered_cost(self, price: float) -> Any:
        """What ``/result`` says a succeeded job cost: ``answer_cost`` when given, else its price."""
        return price if self.answer_cost is None else json.loads(self.answer_cost)

    def price(self, resolution: str) -> float:
        """Dollars charged for one output image at ``resolution`` (1K, 2K or 4K)."""
        return self.price_4k if resolution == "4K" else self.price_1k2k


def _is_json(text: str) -> bool:
    try:
        json.loads(text)
    except ValueError:
        return False
    return True
