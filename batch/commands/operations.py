"""Batch operations for the morning after: resume, retry, cancel.

Each is safe to run twice: it only moves jobs that are still where the operation expects them,
through the store's conditional updates.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from batch.core.states import JobState
from batch.engine.cancelling import CancelOutcome
from batch.engine.moves import Ctx
from batch.engine.reading import cancel_upstream
from batch.engine.runtime import Runtime
from batch.errors import InputError
from batch.store import batches, pilot, queries
from batch.store import jobs as store
from batch.store.db import transaction
from batch.store.models import Batch
from batch.upstream.client import output_urls

S = JobState


def _batch(rt: Runtime, batch_id: int) -> Batch:
    batch = batches.get_batch(rt.sessions, batch_id)
    if batch is None:
        raise InputError(f"no batch {batch_id}")
    return batch


def resume(rt: Runtime, batch_id: int, *, budget_usd: float | None = None) -> int:
    """Make a stopped batch runnable again: a new budget if given, parked jobs pending and due now.

    Jobs whose workers died need nothing: their leases expire and the next tick claims them.
    Returns how many parked jobs were released.
    """
    _batch(rt, batch_id)
    with transaction(rt.sessions) as session:
        if budget_usd is not None:
            batches.set_budget(session, batch_id, budget_usd)
        return pilot.resume(session, batch_id, rt.clock())


@dataclass(frozen=True)
class RetryReport:
    """What ``retry`` did: paid results sent to be downloaded again (no new charge), and jobs put back
    to be submitted (each paid again, ``repaid`` of them for a result already paid once)."""

    batch_id: int
    downloads: int
    resubmits: int
    repaid: int = 0
    reread: int = 0  # paid results whose kept answer this version could read (their URLs found now)
    unreadable: int = 0  # paid results whose kept answer this version cannot read either: left failed

    @property
    def total(self) -> int:
        """Every job moved."""
        return self.downloads + self.resubmits

    def as_json(self) -> dict[str, Any]:
        """The ``retry --json`` document (docs/json.md)."""
        return {"batch_id": self.batch_id, "queued": self.total, "downloads": self.downloads,
                "resubmits": self.resubmits, "repaid": self.repaid, "reread": self.reread,
                "unreadable": self.unreadable}

    def lines(self) -> list[str]:
        """The report, one fact a line."""
        lines = [f"{self.total} jobs queued again; run them here with: nanobatch resume {self.batch_id}"]
        if self.downloads:
            lines.append(f"downloading again their paid results (no new charge): {self.downloads}")
        if self.resubmits:
            lines.append(f"submitting again (each is paid again): {self.resubmits}")
        if self.repaid:
            lines.append(f"of which already paid once (--resubmit pays for them again): {self.repaid}")
        if self.unreadable:
            lines.append(f"paid results this version cannot read either, left failed with their answer kept "
                         f"(--resubmit pays for them again): {self.unreadable}")
        if self.reread:
            lines.append(f"of which read again from the kept answer (their outputs were unreadable before): "
                         f"{self.reread}")
        return lines


def retry(rt: Runtime, batch_id: int, *, error_contains: str | None = None, cancelled: bool = False,
          held: bool = False, resubmit: bool = False) -> RetryReport:
    """Put failed jobs (those whose error contains the text, if given) back in the queue.

    A failed job whose result upstream succeeded (and was paid) goes back to ``downloading``: its
    files are fetched again from the recorded URLs, nothing is submitted. ``resubmit`` submits those
    too (paid again). The earlier error stays in the job's event history; the attempts start again.
    """
    batch = _batch(rt, batch_id)
    if batch.cancelled_at is not None:
        with transaction(rt.sessions) as session:
            batches.clear_cancelled(session, batch_id)
    now = rt.clock()
    again: dict[str, Any] = {"attempts": 0, "error": None, "finished_at": None, "next_action_at": now}
    # a resubmitted job starts with no cost: the budget counts a job in flight without a cost as about
    # to be charged (what it cost before stays in the batch's total)
    fresh = {**again, "request_id": None, "result_urls": None, "upstream_status": None, "queue_position": None,
             "cost": None, "odd_cost": None}
    with transaction(rt.sessions) as session:
        reread, unreadable = _reread_kept_answers(session, batch_id)
        paid = queries.retry_filter(error_contains, among=queries.paid_results(session, batch_id))
        downloads = [] if resubmit else store.transition_all(
            session, batch_id, S.FAILED, S.DOWNLOADING, now=now, detail="retry requested: download the paid result",
            only=paid, **again)
        repaid = store.transition_all(
            session, batch_id, S.FAILED, S.PENDING, now=now, detail="retry requested: resubmit (paid again)",
            only=paid, **fresh) if resubmit else []
        others = [job_id for source in [S.FAILED, *([S.CANCELLED] if cancelled else []), *([S.HELD] if held else [])]
                  for job_id in store.transition_all(session, batch_id, source, S.PENDING, now=now,
                                                     detail="retry requested",
                                                     only=queries.retry_filter(
                                                         error_contains, besides=[] if resubmit else unreadable),
                                                     **fresh)]
    return RetryReport(batch_id, len(downloads), len(repaid) + len(others), len(repaid), reread,
                       0 if resubmit else len(unreadable))


def _reread_kept_answers(session: Session, batch_id: int) -> tuple[int, list[int]]:
    """Read the kept ``/result`` answers of paid jobs that failed for listing no output an earlier
    reader found, with the reader of this version; record the URLs it finds (those jobs then count as
    paid results to download again). How many were read, and the jobs still unreadable."""
    found, unreadable = 0, []
    for job_id, raw in queries.unread_paid_results(session, batch_id):
        urls = output_urls(raw)
        if urls and store.update_job(session, job_id, S.FAILED, None, result_urls=urls):
            found += 1
        elif not urls:
            unreadable.append(job_id)
    return found, unreadable


@dataclass(frozen=True)
class CancelReport:
    """What ``cancel`` did: jobs cancelled before submit, cancelled upstream, whose cancel could not be
    sent or answered, and left running (billed). Each count is of what happened, not of what was asked."""

    not_submitted: int
    cancelled_upstream: int
    still_running: int
    not_sent: int = 0

    def as_json(self) -> dict[str, Any]:
        """The ``cancel --json`` document (docs/json.md)."""
        return {"not_submitted": self.not_submitted, "cancelled_upstream": self.cancelled_upstream,
                "not_sent": self.not_sent, "still_running": self.still_running}

    def lines(self) -> list[str]:
        """The report, one fact a line."""
        lines = [
            f"cancelled before submitting: {self.not_submitted}",
            f"cancelled while queued upstream: {self.cancelled_upstream}",
        ]
        if self.not_sent:
            lines.append(f"still queued upstream, cancel not sent or not answered (rate limit or API error; "
                         f"the workers ask again at each poll, or run cancel again): {self.not_sent}")
        lines.append(f"already running upstream (they finish, are billed and recorded): {self.still_running}")
        return lines


def cancel(rt: Runtime, batch_id: int) -> CancelReport:
    """Stop submitting, cancel what is queued upstream, let running jobs finish and be recorded."""
    _batch(rt, batch_id)
    now = rt.clock()
    with transaction(rt.sessions) as session:
        batches.mark_cancelled(session, batch_id, now)
        stopped = [job_id for source in (S.PENDING, S.PARKED, S.HELD)
                   for job_id in store.transition_all(session, batch_id, source, S.CANCELLED, now=now,
                                                      detail="batch cancelled")]
    outcomes = [_cancel_one(rt, job_id) for job_id in queries.job_ids(rt.sessions, batch_id, [S.QUEUED])]
    upstream = outcomes.count(CancelOutcome.CANCELLED)
    # deferred by the limiter, failed, or held by a worker at that moment (whose poll asks again)
    not_sent = sum(1 for o in outcomes if o not in (CancelOutcome.CANCELLED, CancelOutcome.RUNNING))
    left = queries.job_ids(rt.sessions, batch_id, [S.QUEUED, S.RUNNING])
    return CancelReport(len(stopped), upstream, max(len(left) - not_sent, 0), not_sent)


def _cancel_one(rt: Runtime, job_id: int) -> CancelOutcome | None:
    """Lease one queued job and ask upstream to cancel it; None when a worker holds it (nothing sent)."""
    owner = store.started(f"cancel-{uuid.uuid4().hex[:12]}")  # runs here and now: never handed back early
    lease = store.Lease(owner, rt.clock() + rt.settings.lease_seconds)
    with transaction(rt.sessions) as session:
        claimed = store.claim_one(session, job_id, S.QUEUED, now=rt.clock(), lease=lease)
        found = queries.job_and_batch(session, job_id) if claimed else None
    if found is None:
        return None
    job, batch = found
    outcome = cancel_upstream(rt, Ctx(job, batch, owner))
    if outcome in (CancelOutcome.RUNNING, CancelOutcome.FAILED):  # a deferred job's lease is already dropped
        with transaction(rt.sessions) as session:
            store.update_job(session, job_id, S.QUEUED, owner, lease_owner=None, lease_until=None)
    return outcome
