"""Price estimates and the budget rule."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from batch.core.cost import PriceTable, from_micros, job_cost, to_micros, usd, usd_number, within_budget


def test_prices_by_resolution() -> None:
    table = PriceTable(0.15, 0.30)
    jobs = [{"resolution": "1K"}, {"resolution": "2K"}, {"resolution": "4K"}, {}]
    assert table.estimate(jobs) == Decimal("0.75")


@pytest.mark.parametrize(
    ("budget", "charged", "committed", "price", "ok"),
    [
        (None, 100.0, 100.0, 1.0, True),
        (1.0, 0.0, 0.0, 0.15, True),
        (1.0, 0.6, 0.3, 0.15, False),
        (0.9, 0.6, 0.15, 0.15, True),     # exactly at the budget is allowed
        (0.0, 0.0, 0.0, 0.15, False),
    ],
)
def test_within_budget(budget: float | None, charged: float, committed: float, price: float, ok: bool) -> None:
    assert within_budget(budget, charged, committed, price) is ok


def test_forty_jobs_at_fifteen_cents_add_up_to_six_dollars_exactly() -> None:
    total = sum((usd(0.15) for _ in range(40)), Decimal(0))
    assert total == Decimal("6") and sum(0.15 for _ in range(40)) != 6.0  # what floats did
    assert json.dumps(usd_number(total)) == "6.0"
    assert json.dumps(usd_number(PriceTable(0.15, 0.30).estimate([{}] * 7))) == "1.05"


def test_micro_dollars_round_trip_and_round_half_even() -> None:
    assert to_micros(0.15) == 150_000 and to_micros("1.0000005") == 1_000_000 and to_micros(Decimal(2)) == 2_000_000
    assert from_micros(150_000) == Decimal("0.15")
    assert usd_number(None) is None


@pytest.mark.parametrize("bad", [float("nan"), "lots", float("inf")])
def test_what_is_not_money_is_refused(bad: object) -> None:
    with pytest.raises(ValueError, match="not an amount of money"):
        usd(bad)  # type: ignore[arg-type]


def test_the_budget_rule_is_exact_at_the_edge() -> None:
    # six jobs of $0.15 fit a $0.90 budget: float sums put the sixth a hair over
    assert within_budget(0.9, usd(0.15) * 5, 0, 0.15)
    assert not within_budget(0.9, usd(0.15) * 5, 0, 0.150001)


@pytest.mark.parametrize("value", [1e30, "1e30", -98.95, "-0.01", float("nan"), float("inf"), "abc", 1_000_000_001])
def test_a_job_cost_is_a_finite_amount_from_zero_to_the_cap(value: object) -> None:
    with pytest.raises(ValueError):
        job_cost(value)  # type: ignore[arg-type]


def test_usd_refuses_an_amount_decimal_cannot_round_to_the_micro_dollar() -> None:
    with pytest.raises(ValueError):
        usd(1e30)
    assert job_cost(0) == 0 and job_cost("0.15") == Decimal("0.15") and job_cost(10**9) == 10**9
