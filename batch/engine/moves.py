"""How a step writes its job: move it, hand it back to the tick, wait, retry. The handlers' vocabulary.

Every write is conditional on the job still being where the step found it and on the lease still
being the step's (``store.transition``, ``store.update_job``). A handler returns ``Next``: whether
the job's next step is due now (it still holds the lease) or the call is done with it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import Any

from batch import errors
from batch.core import retry
from batch.core.states import JobState
from batch.engine.runtime import Runtime
from batch.store import jobs as store
from batch.store.db import transaction
from batch.store.models import Batch, Job

S = JobState


@dataclass(frozen=True)
class Ctx:
    """The job and batch as read at the start of a step, and who holds the lease.

    ``maybe_cached``: False when, as the step's jobs were read, no finished job shared this one's
    fingerprint (the submit then skips the lookup of files to reuse).
    """

    job: Job
    batch: Batch
    owner: str
    maybe_cached: bool = True


class Next(Enum):
    """What a step handler tells ``advance`` when it returns."""

    CONTINUE = "continue"  # the job is still ours and its next step is due now: run it in this call
    STOP = "stop"          # the job waits for the tick (or a person), or is no longer ours


CONTINUE, STOP = Next.CONTINUE, Next.STOP


def move(rt: Runtime, ctx: Ctx, target: JobState, *, release: bool = True, detail: str | None = None,
         **values: Any) -> bool:
    """Move the job to ``target`` if it is still where this step found it, and ours; True if it moved."""
    with transaction(rt.sessions) as session:
        return store.transition(
            session, ctx.job.id, S(ctx.job.state), target, now=rt.clock(), owner=ctx.owner,
            release=release, detail=detail, **values,
        )


def leave(rt: Runtime, ctx: Ctx, target: JobState, *, detail: str | None = None, **values: Any) -> Next:
    """Move the job to ``target`` and drop the lease: this call is done with it, moved or not."""
    move(rt, ctx, target, detail=detail, **values)
    return STOP


def wait(rt: Runtime, ctx: Ctx, delay: float, **values: Any) -> Next:
    """Stay in the same state, come back in ``delay`` seconds; the lease is dropped."""
    with transaction(rt.sessions) as session:
        store.update_job(
            session, ctx.job.id, S(ctx.job.state), ctx.owner,
            next_action_at=rt.clock() + delay, lease_owner=None, lease_until=None, **values,
        )
    return STOP


OnGiveUp = Callable[[str, int], Next]  # (the give-up message, the attempts counted) -> what the step does


def retry_or_fail(rt: Runtime, ctx: Ctx, exc: Exception, *, back_to: JobState | None = None,
                  max_attempts: int | None = None, give_up: OnGiveUp | None = None) -> Next:
    """A retryable failure: back off and try again (in ``back_to`` if given), or fail once the attempts are spent.

    ``max_attempts``: the bound, if not the settings' one; ``give_up``: what to do instead of
    failing the job once they are spent.
    """
    attempts = ctx.job.attempts + 1
    retry_after = exc.retry_after if isinstance(exc, errors.RateLimited) else None
    if isinstance(exc, errors.RateLimited):
        rt.limiter.rate_limited(retry_after)
    decision = retry.decide(attempts, max_attempts or rt.settings.max_attempts, rt.rand, retry_after, error=str(exc))
    if isinstance(decision, retry.GiveUp):
        if give_up is not None:
            return give_up(decision.message, attempts)
        return leave(rt, ctx, S.FAILED, error=decision.message, attempts=attempts)
    if back_to is not None:
        return leave(rt, ctx, back_to, detail=str(exc), attempts=attempts, error=str(exc),
                     next_action_at=rt.clock() + decision.delay)
    return wait(rt, ctx, decision.delay, attempts=attempts, error=str(exc))


def acquired(rt: Runtime, ctx: Ctx, kind: str) -> bool:
    """Take the limiter's leave for one API call of ``kind``; if it says later, the job waits (False)."""
    delay = rt.limiter.acquire(kind, rt.rates_for(ctx.batch))
    if delay > 0:
        wait(rt, ctx, delay)
        return False
    return True


def with_changes(job: Job, **changes: Any) -> Job:
    """The job row of this step with some columns changed as written, for the rest of the step.

    Changed in place: the row is detached (nothing is written back from it) and each step
    reads the job afresh, so no one else sees it.
    """
    for key, value in changes.items():
        setattr(job, key, value)
    return job
