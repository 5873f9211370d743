"""The pilot's rows: the rest of a batch parked while its sample runs, then released or cancelled.

A batch with a pilot keeps it in ``batches.options["pilot"]``: ``size``, ``max_failed`` (the
gate's share, None for a person), and once decided ``decision`` (``approved``, ``rejected`` or
``stopped``), ``by``, ``at``, ``reason`` and ``variants`` (style -> the variant chosen). The jobs of
the sample carry ``jobs.pilot``; every other job waits ``parked`` with ``WAITING`` as its reason
until the decision. Job states move only through ``store.jobs``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from batch.core.pilot import progress_text
from batch.core.progress import iso_utc
from batch.core.states import TERMINAL, JobState
from batch.store import jobs as store
from batch.store import reviews
from batch.store.models import Batch, Job, Output

S = JobState
WAITING = "waiting for the pilot's approval"
APPROVED, REJECTED, STOPPED = "approved", "rejected", "stopped"


def options(batch: Batch) -> dict[str, Any] | None:
    """The batch's pilot block, or None when it has no pilot."""
    found = batch.options.get("pilot")
    return found if isinstance(found, dict) else None


def undecided(batch: Batch) -> bool:
    """True while the batch has a pilot that nobody (and no gate) has decided on."""
    pilot = options(batch)
    return pilot is not None and not pilot.get("decision")


def start(session: Session, batch_id: int, pilot: dict[str, Any], *, now: float) -> int:
    """Record the pilot on the batch and park every pending job outside it; how many were parked."""
    batch = session.get(Batch, batch_id)
    assert batch is not None
    batch.options = {**batch.options, "pilot": pilot, "parked": WAITING, "parked_at": now}
    return len(store.transition_all(session, batch_id, S.PENDING, S.PARKED, now=now, detail=WAITING,
                                    only=Job.pilot.is_(False)))


@dataclass(frozen=True)
class Progress:
    """Where a batch's pilot is: its jobs, how many ended, how many failed, and the decision."""

    jobs: int
    done: int
    failed: int
    decision: str | None
    automatic: bool
    variants: dict[str, str]
    by: str | None = None
    reason: str | None = None
    set_aside: int = 0  # jobs of the variants not chosen, cancelled unpaid: the batch is complete without them
    at: float | None = None  # when it was decided

    @property
    def finished(self) -> bool:
        """True when every pilot job has ended."""
        return self.done >= self.jobs

    @property
    def waiting(self) -> bool:
        """True when the pilot has ended and the rest waits for a person."""
        return self.finished and self.decision in (None, STOPPED) and not (self.automatic and not self.decision)

    @property
    def gate_due(self) -> bool:
        """True when the pilot has ended and its automatic gate has not decided yet."""
        return self.finished and self.automatic and not self.decision

    def text(self) -> str:
        """``pilot 24/24 done, waiting for approval``, or the decision."""
        decision = None
        if self.decision == APPROVED:
            chosen = ", ".join(f"{style}={name}" for style, name in sorted(self.variants.items()))
            decision = f"approved by {self.by} at {iso_utc(self.at)}" + (f" ({chosen})" if chosen else "")
        elif self.decision == REJECTED:
            decision = f"rejected by {self.by} at {iso_utc(self.at)}: the rest cancelled unpaid"
        elif self.decision == STOPPED:
            decision = f"stopped: {self.reason}; waiting for approval"
        elif self.gate_due:
            decision = "its gate is deciding"
        return progress_text(self.done, self.jobs, decision)


def progress(session: Session, batch: Batch) -> Progress | None:
    """The batch's pilot progress (one scan of its pilot jobs), or None when it has no pilot."""
    pilot = options(batch)
    if pilot is None:
        return None
    rows = session.execute(select(Job.state, func.count()).where(Job.batch_id == batch.id, Job.pilot.is_(True))
                           .group_by(Job.state)).all()
    jobs = sum(n for _, n in rows)
    done = sum(n for state, n in rows if S(state) in TERMINAL)
    failed = sum(n for state, n in rows if state == S.FAILED.value)
    chosen: dict[str, str] = dict(pilot.get("variants") or {})
    set_aside = session.scalar(select(func.count()).where(
        Job.batch_id == batch.id, Job.state == S.CANCELLED.value, _unchosen(chosen))) if chosen else 0
    return Progress(jobs, done, failed, pilot.get("decision"), pilot.get("max_failed") is not None,
                    chosen, pilot.get("by"), pilot.get("reason"), int(set_aside or 0), pilot.get("at"))


def _unchosen(chosen: dict[str, str]) -> Any:
    """The condition on jobs of a variant not chosen (``chosen``: style -> variant)."""
    return or_(*(and_(Job.style == style, Job.variant != name) for style, name in chosen.items()))


def undecided_batches(session: Session) -> list[int]:
    """Batches not cancelled with a pilot that nobody (and no gate) decided on yet."""
    return list(session.scalars(select(Batch.id).where(
        Batch.cancelled_at.is_(None), Batch.options["pilot"].as_string().is_not(None),
        Batch.options[("pilot", "decision")].as_string().is_(None)).order_by(Batch.id)))


def locked(session: Session, batch_id: int) -> Batch | None:
    """The batch row, locked for this transaction where the database can (two gates never both decide)."""
    return session.scalars(select(Batch).where(Batch.id == batch_id).with_for_update()).first()


def variants(session: Session, batch_id: int) -> dict[str, list[str]]:
    """Style -> its prompt variants, for the batch's styles that have some."""
    rows = session.execute(select(Job.style, Job.variant).where(Job.batch_id == batch_id, Job.variant.is_not(None))
                           .distinct().order_by(Job.style, Job.variant)).all()
    found: dict[str, list[str]] = {}
    for style, variant in rows:
        found.setdefault(style or "", []).append(str(variant))
    return found


def decide(session: Session, batch_id: int, decision: str, *, by: str, now: float,
           chosen: dict[str, str] | None = None, reason: str | None = None) -> tuple[int, int]:
    """Record the decision and move the waiting jobs; (jobs released, jobs cancelled unpaid).

    ``approved``: the waiting jobs of an unchosen variant are cancelled, the others pending, due now.
    ``rejected``: every waiting job cancelled. ``stopped``: only recorded (the rest keeps waiting).
    """
    batch = session.get(Batch, batch_id)
    assert batch is not None
    pilot = {**(options(batch) or {}), "decision": decision, "by": by, "at": now, "reason": reason,
             "variants": dict(chosen or {})}
    batch.options = {**batch.options, "pilot": pilot}
    if decision == STOPPED:
        batch.options = {**batch.options, "parked": f"{reason}; {WAITING}"}
        return 0, 0
    batch.options = {k: v for k, v in batch.options.items() if k not in ("parked", "parked_at")}
    cancel_only = None if decision == REJECTED else _unchosen(chosen) if chosen else None
    cancelled: list[int] = []
    if decision == REJECTED or cancel_only is not None:
        detail = f"pilot {decision} by {by}" + ("" if decision == REJECTED else ": another variant was chosen")
        cancelled = store.transition_all(session, batch_id, S.PARKED, S.CANCELLED, now=now, detail=detail,
                                         only=cancel_only)
    released = [] if decision == REJECTED else store.transition_all(
        session, batch_id, S.PARKED, S.PENDING, now=now, detail=f"pilot approved by {by}", next_action_at=now)
    return len(released), len(cancelled)


@dataclass(frozen=True)
class PilotJob:
    """A pilot job as the pilot page shows it: where it stands, its first file and its review."""

    id: int
    key: str
    state: str
    style: str
    variant: str | None
    prompt: str
    output_id: int | None
    decision: str | None


def sheet(session: Session, batch_id: int) -> list[tuple[str, list[PilotJob]]]:
    """The pilot's jobs grouped by item and style (its variants side by side), each group labelled
    with its first job's input; in job order."""
    decided = reviews.latest(session, batch_id)
    first_file = {job_id: output_id for job_id, output_id in session.execute(
        select(Output.job_id, func.min(Output.id)).join(Job, Job.id == Output.job_id)
        .where(Job.batch_id == batch_id, Job.pilot.is_(True)).group_by(Output.job_id)).all()}
    groups: dict[tuple[str, str], list[PilotJob]] = {}
    rows = session.execute(select(Job.id, Job.key, Job.state, Job.style, Job.variant, Job.inputs)
                           .where(Job.batch_id == batch_id, Job.pilot.is_(True)).order_by(Job.id)).all()
    for row in rows:
        urls = " ".join(str(u) for u in (row.inputs or {}).get("image_urls", []))
        found = decided.get(row.id)
        groups.setdefault((row.style or "", urls), []).append(PilotJob(
            row.id, row.key, row.state, row.style or "", row.variant, str((row.inputs or {}).get("prompt", "")),
            first_file.get(row.id), found.decision if found else None))
    return [(f"{style} · {_unit_name(jobs[0])}", jobs) for (style, _), jobs in groups.items()]


def _unit_name(job: PilotJob) -> str:
    """The job's key without its variant's suffix: what the variants of one item share."""
    suffix = f"-{job.variant}"
    return job.key[:-len(suffix)] if job.variant and job.key.endswith(suffix) else job.key


def resume(session: Session, batch_id: int, now: float) -> int:
    """``resume``: release the parked jobs, except the rest of a pilot nobody approved; how many."""
    batch = session.get(Batch, batch_id)
    assert batch is not None
    pilot = options(batch)
    if pilot is None or pilot.get("decision") in (APPROVED, REJECTED):
        return store.unpark(session, batch_id, now)
    still = batch.options.get("parked") if pilot.get("decision") == STOPPED else WAITING
    return store.unpark(session, batch_id, now, only=Job.pilot.is_(True), still=str(still))
