"""Money, as pure exact arithmetic: prices, budgets and the conversions at the edges.

Money is exact everywhere: the database keeps integer micro-dollars (``to_micros``), Python code
holds ``Decimal`` dollars (``from_micros``), and JSON gets ``usd_number``, a float whose printed
form is the exact decimal (never ``6.0000000000000036``). The price table lives in Settings.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from typing import Any

MICROS_PER_DOLLAR = 1_000_000
_MICRO = Decimal(1) / MICROS_PER_DOLLAR
# The most one job's cost may be: far inside the BIGINT micro-dollar column (9.2e12 dollars) with room
# for a batch's sum, and printed exactly by ``usd_float``. No image edit costs this; an answer beyond is odd.
MAX_JOB_COST = Decimal(10**9)
MAX_BUDGET_USD = 10**9  # a budget above it could not be stored in micro-dollars with room for the totals
Money = Decimal | int | float | str


def usd(value: Money) -> Decimal:
    """Dollars as an exact Decimal rounded to the micro-dollar; a float is read as it prints (0.15, not
    0.1499999...). ValueError for what is not a finite amount."""
    try:
        exact = Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
    except InvalidOperation:
        raise ValueError(f"not an amount of money: {value!r}") from None
    if not exact.is_finite():
        raise ValueError(f"not an amount of money: {value!r}")
    try:
        return exact.quantize(_MICRO, rounding=ROUND_HALF_EVEN)
    except InvalidOperation:  # more digits than Decimal's context holds (1e30)
        raise ValueError(f"not an amount of money: {value!r}") from None


def job_cost(value: Money) -> Decimal:
    """What upstream says one job cost, as exact dollars; ValueError unless a finite amount from 0 to
    ``MAX_JOB_COST`` (a negative cost is no refund nanobatch can trust, and would lower the batch's total)."""
    amount = usd(value)
    if not 0 <= amount <= MAX_JOB_COST:
        raise ValueError(f"not a cost of one job: {value!r}")
    return amount


def to_micros(value: Money) -> int:
    """Dollars -> integer micro-dollars (how the database keeps money)."""
    return int(usd(value) * MICROS_PER_DOLLAR)


def from_micros(micros: int) -> Decimal:
    """Integer micro-dollars -> exact Decimal dollars."""
    return (Decimal(int(micros)) / MICROS_PER_DOLLAR).quantize(_MICRO)


def usd_float(value: Money) -> float:
    """An amount for JSON and display: a float that prints as the exact decimal (micro-dollar amounts
    below a billion dollars have at most 15 significant digits, which a float's shortest repr keeps)."""
    return float(usd(value))


def usd_number(value: Money | None) -> float | None:
    """``usd_float``, with None kept (no budget, no cost yet)."""
    return None if value is None else usd_float(value)


@dataclass(frozen=True)
class PriceTable:
    """Dollars per output image by resolution (third-party figures: keep them configurable)."""

    per_image_1k_2k: Money = Decimal("0.15")  # Settings give floats: each is read as it prints
    per_image_4k: Money = Decimal("0.30")

    def job_price(self, inputs: Mapping[str, Any]) -> Decimal:
        """Estimated price of one job (one output image), exact."""
        return usd(self.per_image_4k if inputs.get("resolution") == "4K" else self.per_image_1k_2k)

    def estimate(self, jobs: Iterable[Mapping[str, Any]]) -> Decimal:
        """Estimated price of all these jobs' inputs."""
        return sum((self.job_price(inputs) for inputs in jobs), Decimal(0))


def within_budget(budget: Money | None, charged: Money, committed: Money, next_price: Money) -> bool:
    """May one more job be submitted? ``committed`` is the estimate for jobs in flight, not yet charged.

    Exact: a budget of $0.90 admits six jobs at $0.15, not five and a rounding error.
    """
    if budget is None:
        return True
    return usd(charged) + usd(committed) + usd(next_price) <= usd(budget)
