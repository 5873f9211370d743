"""``submit --dry-run``: what a manifest would cost, and what the cache would spare, writing nothing."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy.orm import Session, sessionmaker

from batch.commands.batches import pilot_block, pilot_units
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
    pilot_jobs: int | None = None  # the pilot's jobs (every variant on the sample), when there is a pilot
    pilot_cost: Decimal = Decimal(0)  # what the pilot's jobs to run would cost
    variants_left_out: int = 0  # jobs of the variants the pilot will not choose: never paid (priced at one each)

    @property
    def to_run(self) -> int:
        """Jobs that would call the API."""
        return self.total - self.cached - self.waiting - self.variants_left_out

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
        if self.pilot_jobs is not None:
            doc.update(pilot_jobs=self.pilot_jobs, pilot_cost_usd=usd_number(self.pilot_cost),
                       variants_left_out=self.variants_left_out)
        return doc

    def lines(self) -> list[str]:
        """The dry-run report, one fact a line."""
        lines = [
            f"jobs in manifest: {self.total}",
            f"jobs cached (verified files reused, no API call): {self.cached}",
            f"jobs to run: {self.to_run}",
            f"estimated cost: ${self.estimated_cost:.2f}",
        ]
        if self.pilot_jobs is not None:
            lines[-1] = f"estimated cost of the whole batch, pilot included: ${self.estimated_cost:.2f}"
            lines.insert(-1, f"pilot: {self.pilot_jobs} jobs first, estimated ${self.pilot_cost:.2f}; the rest "
                             "waits for approval")
            if self.variants_left_out:
                lines.insert(-1, f"jobs of the variants not chosen after the pilot (never paid): "
                                 f"{self.variants_left_out}")
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
         force: bool = False, validators: dict[str, str] | None = None, pilot: int | None = None) -> Plan:
    """Count what would be cached or wait for an identical job, and price the rest; ``sessions`` None
    means no database yet.

    A job identical to one under way in any batch, or to an earlier job of this manifest, waits for
    its files (``engine.steps``): $0, unless ``force``, which pays for every job. With a pilot (the
    manifest's, or ``pilot`` units), the pilot's share is priced apart, and outside the pilot only one
    variant of each style counts (the others' jobs are cancelled unpaid once one is chosen).
    """
    block = pilot_block(manifest, pilot)
    sample = pilot_units(manifest, block["size"]) if block else set()
    first = {spec.style: spec.variant for spec in reversed(manifest.jobs) if spec.variant}
    counted = [spec for spec in manifest.jobs
               if spec.sample_unit in sample or spec.variant is None or first.get(spec.style) == spec.variant]
    left_out = len(manifest.jobs) - len(counted)
    prints = [fingerprint(spec.inputs, validators) for spec in counted]
    reusable = set() if force or sessions is None else reusable_prints(sessions, prints)
    in_flight = set()
    if sessions is not None:
        with sessions() as session:
            in_flight = owners.under_way(session, sorted(set(prints)))
    to_run, in_pilot, waiting, seen = [], [], 0, set(in_flight)
    for spec, fp in zip(counted, prints, strict=True):
        if fp in reusable:
            continue
        if fp in seen and not force:
            waiting += 1
            continue
        seen.add(fp)
        to_run.append(spec.inputs)
        if spec.sample_unit in sample:
            in_pilot.append(spec.inputs)
    paid_again = sum(fp in in_flight for fp in prints) if force else 0
    return Plan(total=len(manifest.jobs), cached=len(prints) - len(to_run) - waiting,
                estimated_cost=prices.estimate(to_run), waiting=waiting, paid_again=paid_again,
                pilot_jobs=sum(spec.sample_unit in sample for spec in manifest.jobs) if block else None,
                pilot_cost=prices.estimate(in_pilot), variants_left_out=left_out)
