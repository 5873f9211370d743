"""The tick: find jobs due within the next tick, lease them, and hand them to workers, paced.

Runs periodically (Celery beat, or the in-process ``drain`` loop in tests and benchmarks). Each
tick looks one period ahead (``tick_seconds``) and hands every job over with a delay: jobs
whose step makes no API call (downloads, lost submits) at their due time; jobs whose step makes
one (submits, polls, result reads) at the start time the limiter's pacing reserved for it. So a
poll comes when it is due, not up to a tick late, and calls reach upstream evenly spread.

Claims are sized by the budget: no more API jobs than the pacing has room for in the coming
period (the rest stay due for the next tick, oldest first), and submits only up to the free
upstream slots (``max_in_flight``, the lowest of the configuration and the manifest).

A job's first poll follows the batch's current run-time estimate, not the one it was submitted
under: when the estimate shrinks, the tick brings first polls forward. While nothing is known
yet, it sends a couple of scouts per tick (see ``batch.timing``). While the batch's jobs are seen
waiting in upstream's queue, first polls follow the queue instead: each job is polled when the
queue has reached its place in the submit order (``batch.timing.QueueModel``).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass

from sqlalchemy.orm import Session

from batch.core import pacing
from batch.core.pacing import FirstPolls
from batch.core.states import JobState
from batch.core.timing import MIN_SAMPLES, QueueModel, RuntimeEstimate, first_poll_age
from batch.engine.runtime import Runtime
from batch.store import claims, samples, scope
from batch.store import jobs as store
from batch.store.db import transaction
from batch.store.jobs import FAR_FUTURE
from batch.upstream.limiter import Capacity, PlannedCall, Rates

Dispatch = Callable[[list[int], str], None]  # job ids, lease owner: run their steps now, in order
DispatchLater = Callable[[list[int], str, float], None]  # ... in this many seconds
NOW = 0.01  # delays below this go at once
MAX_CLAIM = 500
SCOUTS_PER_TICK = 2   # while a batch's run time is unknown, poll this many new jobs early per tick
SCOUT_AGE = 0.5       # ... once they are this old (seconds)
PLAN_AHEAD = 1.5      # API slots are planned this many ticks ahead, so that a late tick loses none
FIRST_POLLS_SHARE = 0.3  # first polls brought forward take at most this share of a tick's API budget
S = JobState
NO_CALL = (S.DOWNLOADING, S.SUBMITTING)   # steps that make no API call
POLLING = (S.FETCHING, S.QUEUED, S.RUNNING)


@dataclass(frozen=True)
class Claimed:
    """A job this tick leased: what it needs next and when."""

    job_id: int
    state: JobState
    due: float
    batch_id: int


def tick(rt: Runtime, dispatch: Dispatch, *, owner: str | None = None,
         dispatch_later: DispatchLater | None = None, batch_ids: Collection[int] | None = None) -> int:
    """Claim the jobs due within one tick that the budget allows, dispatch each with its delay; how many.

    Without ``dispatch_later`` the tick does not look ahead: it claims only jobs due now and
    hands them all over at once (the limiter's ``acquire`` in the step still has the last word).
    ``batch_ids``: claim only these batches' jobs (the workers of ``run X``); None: every batch.
    """
    owner = owner or uuid.uuid4().hex
    now = rt.clock()
    horizon = rt.settings.tick_seconds if dispatch_later is not None else 0.0
    lease = store.Lease(owner, now + PLAN_AHEAD * rt.settings.tick_seconds + rt.settings.lease_seconds)
    room = rt.limiter.capacity(Rates(rt.settings.requests_per_second, rt.settings.submits_per_second),
                               PLAN_AHEAD * rt.settings.tick_seconds)
    firsts = _first_polls(rt, now, now + horizon, batch_ids) if dispatch_later is not None else []
    with transaction(rt.sessions) as session:
        claimed = _claim(rt, session, now, now + horizon, lease, room, firsts, batch_ids)
        batches = claims.batches_by_id(session, {c.batch_id for c in claimed})
    api = sorted((c for c in claimed if c.state not in NO_CALL), key=lambda c: (c.due, c.job_id))
    asked = rt.clock()
    starts = rt.limiter.plan([PlannedCall(_kind(c.state), c.due - asked, rt.rates_for(batches[c.batch_id]))
                              for c in api])
    planned = rt.clock()  # the limiter's offsets count from (about) now, not from the tick's start
    targets = [(planned + start, _kind(c.state), c.job_id) for c, start in zip(api, starts, strict=True)]
    targets += [(c.due, "other", c.job_id) for c in claimed if c.state in NO_CALL]
    for at, job_ids in pacing.groups(targets):
        delay = at - rt.clock()  # taken per message: handing over many takes a while
        if delay < NOW or dispatch_later is None:
            dispatch(job_ids, owner)
        else:
            dispatch_later(job_ids, owner, delay)
    return len(claimed)


def _claim(rt: Runtime, session: Session, now: float, due_by: float, lease: store.Lease, room: Capacity,
           firsts: Sequence[FirstPolls], batches: Collection[int] | None) -> list[Claimed]:
    ids = store.claim(session, job_states=NO_CALL, now=now, due_by=due_by, lease=lease, limit=MAX_CLAIM,
                      where=scope.within(batches))
    # submits with a ceiling of their own are served first (that ceiling is the batch's pace);
    # otherwise jobs already upstream come first and submits take what is left
    submits_first = room.submits < room.calls
    submits = (_claim_submits(rt, session, now, due_by, lease, min(room.submits, MAX_CLAIM), batches)
               if submits_first else [])
    calls = room.calls - len(submits)
    polls = store.claim(session, job_states=POLLING, now=now, due_by=due_by, lease=lease, limit=min(calls, MAX_CLAIM),
                        where=scope.within(batches, claims.not_first_polls_in_queue(firsts)))
    early = _claim_first_polls(session, firsts, now, due_by, lease, min(calls - len(polls), MAX_CLAIM))
    if not submits_first:
        budget = min(calls - len(polls) - len(early), room.submits, MAX_CLAIM)
        submits = _claim_submits(rt, session, now, due_by, lease, budget, batches)
    ids += polls + list(early) + submits
    if not ids:
        return []
    places: dict[int, int] = {}  # first polls behind a queue so far, per batch, in submit order
    return [Claimed(job_id, S(state), pacing.due(due, early.get(job_id), submitted, (now, due_by), places), batch_id)
            for job_id, state, due, batch_id, submitted in claims.claimed_rows(session, ids)]


def _first_polls(rt: Runtime, now: float, due_by: float, batches: Collection[int] | None) -> list[FirstPolls]:
    """Per batch (of ``batches``, None: all) with jobs not polled since their submit, or waiting in
    upstream's queue: which of them to poll in this tick."""
    with rt.sessions() as session:
        waiting, fresh = claims.batches_awaiting_polls(session)  # fresh: jobs not polled since their submit
    plans: list[FirstPolls] = []
    for batch_id in sorted(b for b in waiting if scope.serves(batches, b)):
        queue = rt.queue(batch_id)
        if queue is not None:
            plans.append(_first_polls_in_queue(rt, batch_id, queue, due_by))
        elif batch_id in fresh:  # by age; a batch with only jobs waiting at a known position has none
            plans.append(_first_polls_by_age(batch_id, rt.estimate(batch_id), now, due_by))
    return plans


def _first_polls_in_queue(rt: Runtime, batch_id: int, queue: QueueModel, due_by: float) -> FirstPolls:
    """The not-yet-polled jobs that upstream's queue will have started by ``due_by``, one place
    earlier (a job is not done the moment it starts): every job up to that place in the submit
    order. (The batch's run times cannot tell how long a job runs: counted from the submit, they
    include the wait in the queue.)"""
    last = queue.started_by(due_by - queue.seconds_per_position())
    frontier: float | None = -1.0
    if last >= 0:
        with rt.sessions() as session:  # the submit time of the last job reached
            frontier = samples.nth_submit_time(session, batch_id, last)
    return FirstPolls(batch_id, FAR_FUTURE if frontier is None else frontier, MAX_CLAIM, None,
                      spacing=queue.seconds_per_position())


def _first_polls_by_age(batch_id: int, estimate: RuntimeEstimate, now: float, due_by: float) -> FirstPolls:
    """Scouts while the batch's run time is unknown, else the jobs whose first-poll age comes within the tick."""
    if estimate.samples < MIN_SAMPLES:
        return FirstPolls(batch_id, now - SCOUT_AGE, SCOUTS_PER_TICK, None)
    age = first_poll_age(estimate)
    return FirstPolls(batch_id, due_by - age, MAX_CLAIM, age)


def _claim_first_polls(session: Session, firsts: Sequence[FirstPolls], now: float, due_by: float,
                       lease: store.Lease, budget: int) -> dict[int, FirstPolls]:
    claimed: dict[int, FirstPolls] = {}
    share = min(budget, max(1, int(FIRST_POLLS_SHARE * budget)))
    # polls paced by a queue are not brought forward: they are the batch's polls, and may use the budget
    for first in sorted(firsts, key=lambda f: f.spacing is None):
        limit = min(first.limit, (share if first.spacing is None else budget) - len(claimed))
        if limit <= 0:
            continue
        got = store.claim(session, job_states=[S.QUEUED], now=now, due_by=FAR_FUTURE, lease=lease, limit=limit,
                          batch_id=first.batch_id, where=claims.first_poll_candidates(first, due_by),
                          oldest_submit_first=first.spacing is not None)
        claimed.update(dict.fromkeys(got, first))
    return claimed


def _claim_submits(rt: Runtime, session: Session, now: float, due_by: float, lease: store.Lease,
                   budget: int, batches: Collection[int] | None) -> list[int]:
    """Pending jobs to submit: at most ``budget``, and no more than each batch's free upstream slots."""
    if budget <= 0:
        return []
    in_flight = store.in_flight_counts(session, now)
    free_global = rt.settings.max_in_flight - sum(in_flight.values())
    claimed: list[int] = []
    for batch in store.batches_with_due_pending(session, now):
        if not scope.serves(batches, batch.id):
            continue
        cap = min(rt.settings.max_in_flight, batch.max_in_flight or rt.settings.max_in_flight)
        slots = min(free_global, cap - in_flight.get(batch.id, 0), budget - len(claimed))
        if slots <= 0:
            continue
        got = store.claim(session, job_states=[S.PENDING], now=now, due_by=due_by, lease=lease, limit=slots,
                          batch_id=batch.id)
        free_global -= len(got)
        claimed += got
    return claimed


def _kind(state: JobState) -> str:
    if state is S.PENDING:
        return "submit"
    return "result" if state is S.FETCHING else "status"


def drain(rt: Runtime, batch_id: int, *, timeout: float = 120.0, idle_sleep: float = 0.05,
          paced: bool = False) -> None:
    """Run ticks and steps in this process until the batch has no active job (tests, benchmarks).

    The arq-style "burst" worker: deterministic, no Celery. Each tick's jobs run one after the
    other at their dispatch times. The next tick comes as soon as they are done, or with ``paced``
    no sooner than ``tick_seconds`` after the last, as the beat sends them (what a tick hands out
    per tick, such as scouts, then comes at the rate it does in production). Raises TimeoutError
    if it overruns.
    """
    deadline = time.monotonic() + timeout
    while _active_left(rt, batch_id):
        if time.monotonic() > deadline:
            raise TimeoutError(f"batch {batch_id} still has active jobs after {timeout} s")
        next_tick = time.monotonic() + (rt.settings.tick_seconds if paced else 0.0)
        planned = _tick_once(rt)
        if not planned:
            time.sleep(idle_sleep)
        _run_in_order(rt, planned, deadline)
        time.sleep(max(0.0, min(next_tick, deadline) - time.monotonic()))


def _tick_once(rt: Runtime) -> list[tuple[float, list[int], str]]:
    """One tick whose dispatches are collected as (monotonic time, job ids, owner)."""
    base = time.monotonic()
    planned: list[tuple[float, list[int], str]] = []
    tick(rt, lambda job_ids, owner: planned.append((base, job_ids, owner)),
         dispatch_later=lambda job_ids, owner, delay: planned.append((base + delay, job_ids, owner)))
    return planned


def _run_in_order(rt: Runtime, planned: Sequence[tuple[float, list[int], str]], deadline: float) -> None:
    from batch.engine.steps import advance_all

    for at, job_ids, owner in sorted(planned):
        wait = min(at, deadline) - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        advance_all(rt, job_ids, owner)


def _active_left(rt: Runtime, batch_id: int) -> bool:
    with rt.sessions() as session:
        return claims.active_left(session, batch_id)
