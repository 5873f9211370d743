"""``submit --dry-run``: what a manifest would cost, and what the cache would spare, writing nothing."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy.orm import Session, sessionmaker

from batch.commands.cached import reusable_prints
from batch.core.cost import PriceTable, usd, usd_number
from batch.core.fingerprint import fingerprint
from batch.manifest import Manifest


@dataclass(frozen=True)
class Plan:
    """Jobs to run, jobs the cache covers, and the estimated bill for the rest."""

    total: int
    cached: int
    estimated_cost: Decimal
    budget_usd: float | None = None  # the batch's spending limit, if it has one

    @property
    def to_run(self) -> int:
        """Jobs that would call the API."""
        return self.total - self.cached

    @property
    def over_budget(self) -> bool:
        """True when the estimate exceeds the budget: the batch would stop before its end."""
        return self.budget_usd is not None and self.estimated_cost > usd(self.budget_usd)

    def as_json(self) -> dict[str, float | int | bool | None]:
        """The plan as a JSON document (budget fields only when there is a budget)."""
        doc: dict[str, float | int | bool | None] = {"jobs": self.total, "cached": self.cached,
                                                     "to_run": self.to_run,
                                                     "estimated_cost_usd": usd_number(self.estimated_cost)}
        if self.budget_usd is not None:
            doc.update(budget_usd=self.budget_usd, over_budget=self.over_budget)
        return doc

    def lines(self) -> list[str]:
        """The dry-run report, one fact a line."""
        lines = [
            f"jobs in manifest: {self.total}",
            f"jobs cached (verified files reused, no API call): {self.cached}",
            f"jobs to run: {self.to_run}",
            f"estimated cost: ${self.estimated_cost:.2f}",
        ]
        if self.budget_usd is not None:
            lines.append(f"budget: ${self.budget_usd:.2f}")
        if self.budget_usd is not None and self.over_budget:
            excess = self.estimated_cost - usd(self.budget_usd)
            lines.append(f"over budget: the estimate exceeds the budget by ${excess:.2f}; the batch would stop"
                         " when its charges reach the budget (raise it with --budget)")
        return lines


def plan(manifest: Manifest, prices: PriceTable, sessions: sessionmaker[Session] | None, *,
         force: bool = False, validators: dict[str, str] | None = None) -> Plan:
    """Count what would be cached and price the rest; ``sessions`` None means no database yet."""
    prints = [fingerprint(spec.inputs, validators) for spec in manifest.jobs]
    reusable = set() if force or sessions is None else reusable_prints(sessions, prints)
    to_run = [spec.inputs for spec, fp in zip(manifest.jobs, prints, strict=True) if fp not in reusable]
    return Plan(total=len(prints), cached=len(prints) - len(to_run), estimated_cost=prices.estimate(to_run))


