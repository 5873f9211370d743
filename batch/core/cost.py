"""Prices and budgets, as pure arithmetic (the price table lives in Settings)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class PriceTable:
    """Dollars per output image by resolution (third-party figures: keep them configurable)."""

    per_image_1k_2k: float = 0.15
    per_image_4k: float = 0.30

    def job_price(self, inputs: Mapping[str, Any]) -> float:
        """Estimated price of one job (one output image)."""
        return self.per_image_4k if inputs.get("resolution") == "4K" else self.per_image_1k_2k

    def estimate(self, jobs: Iterable[Mapping[str, Any]]) -> float:
        """Estimated price of all these jobs' inputs."""
        return sum(self.job_price(inputs) for inputs in jobs)


def within_budget(budget: float | None, charged: float, committed: float, next_price: float) -> bool:
    """May one more job be submitted? ``committed`` is the estimate for jobs in flight, not yet charged."""
    if budget is None:
        return True
    return charged + committed + next_price <= budget + 1e-9
