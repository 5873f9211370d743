"""Price estimates and the budget rule."""

from __future__ import annotations

import pytest

from batch.core.cost import PriceTable, within_budget


def test_prices_by_resolution() -> None:
    table = PriceTable(0.15, 0.30)
    jobs = [{"resolution": "1K"}, {"resolution": "2K"}, {"resolution": "4K"}, {}]
    assert table.estimate(jobs) == pytest.approx(0.75)


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
