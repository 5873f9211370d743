"""The circuit breaker's writes: a batch whose API calls fail in a way no retry fixes is paused.

The rules are in ``core.breaker``. When a step's call trips the breaker, the batch's pending jobs
are parked with the reason (``store.pause``: the ``parked`` state, an event per job, the reason
on the batch as ``paused``), the step's own job waits without spending an attempt, ``run``
stops with the reason on screen, and ``resume`` goes on once the setup is fixed.
"""

from __future__ import annotations

import logging

from batch import errors
from batch.core.states import JobState
from batch.engine.moves import STOP, Ctx, Next
from batch.engine.runtime import Runtime
from batch.store import jobs as store
from batch.store.db import transaction

S = JobState
log = logging.getLogger(__name__)
PAUSED_POLL_SECONDS = 60.0  # a job in flight upstream asks again this late while its batch is paused


def tripped(rt: Runtime, ctx: Ctx, exc: errors.ApiError) -> Next | None:
    """Count a failed call; when it trips the breaker, pause the batch and return STOP, else None.

    A submit that was not accepted goes back to ``parked`` uncounted. A submit that may have been
    accepted (no answer) is left to the caller's uncertain-submit policy, the batch paused all the
    same. A job in flight upstream waits ``PAUSED_POLL_SECONDS``, its attempts untouched.
    """
    reason = rt.breaker.failed(exc, rt.settings.api_base)
    if reason is None:
        return None
    own = not isinstance(exc, errors.UncertainDelivery)
    now = rt.clock()
    with transaction(rt.sessions) as session:
        if own and ctx.job.state == S.SUBMITTING.value:
            store.transition(session, ctx.job.id, S.SUBMITTING, S.PARKED, via=S.PENDING, now=now, owner=ctx.owner,
                             release=True, detail=reason, submits=ctx.job.submits)
        elif own:
            store.update_job(session, ctx.job.id, S(ctx.job.state), ctx.owner, lease_owner=None, lease_until=None,
                             next_action_at=now + PAUSED_POLL_SECONDS)
        store.pause(session, ctx.batch.id, reason, now=now)
    log.warning("batch %s paused: %s", ctx.batch.id, reason)
    return STOP if own else None
