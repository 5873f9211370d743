"""A request upstream has (a job queued, running or fetching): read it until its charge is known.

Once a POST is accepted upstream runs the job and charges for it, whatever happens on our side.
A failure to read the request (a timeout, a 5xx, a 429, a bug in the step) is therefore no failed
attempt of the job: failing the job would leave a charge unrecorded while upstream goes on to
finish it (invariant 9), and ``retry`` would pay for it again. Such errors are retried with the
same backoff as any other (``core.retry``), counted on the job's ``attempts``, up to
``max(NANOBATCH_MAX_ATTEMPTS, NANOBATCH_MAX_READ_ERRORS)`` of them. Past that the job gives up on
the request for good: it asks upstream to cancel it (a request still queued is cancelled unbilled,
and the job ends ``cancelled``); otherwise the job fails with an error that says upstream may have
charged for the request and that its cost is not recorded.
"""

from __future__ import annotations

import logging
from typing import Any

from batch import errors
from batch.core.states import JobState
from batch.engine.cancelling import CancelOutcome
from batch.engine.moves import STOP, Ctx, Next, acquired, leave, move, retry_or_fail
from batch.engine.runtime import Runtime

S = JobState
log = logging.getLogger(__name__)
# the states in which upstream has the job's request and may still charge for it
READING = frozenset({S.QUEUED, S.RUNNING, S.FETCHING})


def read_failed(rt: Runtime, ctx: Ctx, exc: Exception) -> Next:
    """Reading the job's request failed in a way that may pass: back off and read it again, or give up.

    Bounded by ``max(max_attempts, max_read_errors)``; giving up is ``give_up_reading``.
    """
    bound = max(rt.settings.max_attempts, rt.settings.max_read_errors)
    return retry_or_fail(rt, ctx, exc, max_attempts=bound,
                         give_up=lambda message, attempts: give_up_reading(rt, ctx, message, attempts))


def give_up_reading(rt: Runtime, ctx: Ctx, message: str, attempts: int) -> Next:
    """Stop reading the request: cancelled upstream when it is still queued (unbilled), else failed, saying
    that upstream may have charged for it without our knowing how much."""
    outcome = cancel_upstream(rt, ctx, error=message, attempts=attempts)
    if outcome:  # cancelled, or the cancel waits for the limiter (the job comes back, and gives up again)
        return STOP
    request = ctx.job.request_id
    log.warning("job %s: gave up reading request %s: %s", ctx.job.id, request, message)
    return leave(rt, ctx, S.FAILED, attempts=attempts,
                 error=f"{message} (upstream may have charged for request {request}: its cost is not recorded)")


def cancel_upstream(rt: Runtime, ctx: Ctx, **values: Any) -> CancelOutcome:
    """Ask upstream to cancel a queued job (true when the poll step is over, see ``CancelOutcome``).

    ``values``: more columns written on the job when it is cancelled.
    """
    if not acquired(rt, ctx, "cancel"):
        return CancelOutcome.DEFERRED
    try:
        outcome = rt.client.cancel(ctx.job.request_id or "")
    except errors.ApiError as exc:
        log.warning("job %s: cancel failed: %s", ctx.job.id, exc)
        if isinstance(exc, errors.RateLimited):
            rt.limiter.rate_limited(exc.retry_after)
        return CancelOutcome.FAILED
    if outcome != "cancelled":
        return CancelOutcome.RUNNING
    move(rt, ctx, S.CANCELLED, upstream_status="cancelled", detail="cancelled upstream while queued", **values)
    return CancelOutcome.CANCELLED  # upstream cancelled it, even if the job had moved meanwhile
