"""``submit --dry-run``: what a manifest would cost, and what the cache would spare, writing nothing."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy.orm import Session, sessionmaker

from batch.commands.cached import reusable_prints
from batch.core.cost import PriceTable, usd, usd_number
from batch.core.fingerprint import fingerprint
from batch.manifest import Manifest
from batch.store import owners


@dataclass(frozen=True)
class Plan:
    """Jobs to run, jobs the cache covers, jobs that wait for an identical job, and the bill for the rest."""

    total: int
    cached: int
    estimated_cost: Decimal
    budget_usd: float | None = None  # the batch's spending limit, if it has one
    waiting: int = 0  # identical to a job under way (another batch's, or an earlier one of this manifest): $0
    paid_again: int = 0  # with --force: identical to a job under way, and paid again all the same

    @property
    def to_run(self) -> int:
        """Jobs that would call the API."""
        return self.total - self.cached - self.waiting

    @property
    def over_budget(self) -> bool:
        """True when the estimate exceeds the budget: the batch would stop before its end."""
        return self.budget_usd is not None and self.estimated_cost > usd(self.budget_usd)

    def as_json(self) -> dict[str, float | int | bool | None]:
        """The plan as a JSON document (budget fields only when there is a budget)."""
        doc: dict[str, float | int | bool | None] = {"jobs": self.total, "cached": self.cached,
                                                     "waiting": self.waiting, "to_run": self.to_run,
                                                     "paid_again": self.paid_again,
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
        if self.waiting:
            lines.insert(2, f"jobs waiting on an identical job in flight (its files copied, no API call, $0): "
                            f"{self.waiting}")
        if self.paid_again:
            lines.append(f"of which identical to a job in flight, paid again (--force): {self.paid_again}")
        if self.budget_usd is not None:
            lines.append(f"budget: ${self.budget_usd:.2f}")
        if self.budget_usd is not None and self.over_budget:
            excess = self.estimated_cost - usd(self.budget_usd)
            lines.append(f"over budget: the estimate exceeds the budget by ${excess:.2f}; the batch would stop"
                         " when its charges reach the budget (raise it with --budget)")
        return lines


def plan(manifest: Manifest, prices: PriceTable, sessions: sessionmaker[Session] | None, *,
         force: bool = False, validators: dict[str, str] | None = None) -> Plan:
    """Count what would be cached or wait for an identical job, and price the rest; ``sessions`` None
    means no database yet.

    A job identical to one under way in any batch, or to an earlier job of this manifest, waits for
    its files (``engine.steps``): $0, unless ``force``, which pays for every job.
    """
    prints = [fingerprint(spec.inputs, validators) for spec in manifest.jobs]
    reusable = set() if force or sessions is None else reusable_prints(sessions, prints)
    in_flight = set()
    if sessions is not None:
        with sessions() as session:
            in_flight = owners.under_way(session, sorted(set(prints)))
    to_run, waiting, seen = [], 0, set(in_flight)
    for spec, fp in zip(manifest.jobs, prints, strict=True):
        if fp in reusable:
            continue
        if fp in seen and not force:
            waiting += 1
            continue
        seen.add(fp)
        to_run.append(spec.inputs)
    paid_again = sum(fp in in_flight for fp in prints) if force else 0
    return Plan(total=len(prints), cached=len(prints) - len(to_run) - waiting, estimated_cost=prices.estimate(to_run),
                waiting=waiting, paid_again=paid_again)


