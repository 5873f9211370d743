"""The one place that writes job state.

Every state change is ``transition``: a conditional UPDATE (``WHERE id = :id AND state =
:from [AND lease_owner = :owner]``) plus an event row, in the caller's transaction. Zero rows
changed means someone else moved the job (or took its lease): the caller must stop.
Claims hand out leases; an expired lease is simply claimed again.

A lease is handed out with its task message and *started* by the worker that runs it (``start``:
the owner token gains ``STARTED``, one conditional UPDATE). A lease not started yet is only a
message on its way: when the broker lost its messages, ``hand_back_unstarted`` drops such leases at
once, and the worker that might still get the message finds its token gone and runs nothing. A
started lease is never handed back early: its step may be running.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import CursorResult, Table, and_, bindparam, delete, func, insert, or_, select, update
from sqlalchemy.orm import Session

from batch.core import states
from batch.core.states import JobState
from batch.store.models import Batch, Job, JobEvent, Micros, Output


@dataclass(frozen=True)
class Lease:
    """Who holds a job and until when."""

    owner: str
    until: float


STARTED = "+started"  # appended to a lease's owner token once a worker runs its steps (``start``)


def started(owner: str) -> str:
    """The token of ``owner``'s lease once a worker has started it."""
    return owner if owner.endswith(STARTED) else owner + STARTED


def start(session: Session, job_ids: Sequence[int], owner: str) -> list[int]:
    """Mark ``owner``'s leases on these jobs started (their owner becomes ``started(owner)``); the ids
    marked, in the order given. The others were handed back or taken meanwhile (or were started by an
    earlier delivery of the same message): the caller must not step them."""
    if not job_ids or owner.endswith(STARTED):
        return []
    stmt = (update(Job).where(Job.id.in_(list(job_ids)), Job.lease_owner == owner)
            .values(lease_owner=started(owner)).returning(Job.id))
    marked = set(session.scalars(stmt))
    return [job_id for job_id in job_ids if job_id in marked]


def hand_back_unstarted(session: Session, *, now: float, where: Any = None) -> int:
    """Drop every lease (of the jobs ``where`` selects) whose task message no worker has started: the
    broker lost the messages, so their jobs are due again now rather than a lease later. Started leases
    stay (their steps may be running); a message that does arrive later finds its token gone. How many."""
    stmt = update(Job).where(Job.lease_owner.is_not(None), Job.lease_until >= now,
                             Job.lease_owner.not_like("%" + STARTED))
    if where is not None:
        stmt = stmt.where(where)
    result: CursorResult[Any] = session.execute(  # type: ignore[assignment]
        stmt.values(lease_owner=None, lease_until=None), execution_options={"synchronize_session": False})
    return int(result.rowcount)



def _implied(values: dict[str, Any], source: JobState, target: JobState, now: float) -> None:
    """The columns every transition of this kind also writes: the end time of a terminal state, and no
    longer waiting for an identical job once a pending job moves on (unless ``values`` says otherwise)."""
    if target in states.TERMINAL:
        values.setdefault("finished_at", now)
    if source is JobState.PENDING and target is not JobState.PENDING:
        values.setdefault("waiting_on", None)

def transition(
    session: Session,
    job_id: int,
    source: JobState,
    target: JobState,
    *,
    now: float,
    owner: str | None = None,
    detail: str | None = None,
    release: bool = False,
    via: JobState | None = None,
    **values: Any,
) -> bool:
    """Move job ``job_id`` from ``source`` to ``target`` if it is still there (and still ours).

    ``owner`` restricts the update to the lease holder; ``release`` drops the lease. Extra
    keyword arguments are column values written in the same UPDATE. ``via``: pass through this
    state on the way, checked and logged as two moves but written in one UPDATE. Returns False
    when the job was no longer in ``source`` (or the lease had passed to someone else).
    """
    legs = [(source, via), (via, target)] if via is not None else [(source, target)]
    for before, after in legs:
        states.check(before, after)
    if release:
        values.update(lease_owner=None, lease_until=None)
    _implied(values, source, target, now)
    if not _write(session, job_id, source, owner, {**values, "state": target.value}):
        return False
    if values.get("cost"):
        session.connection().execute(_ADD_CHARGE, {"job_id": job_id, "cost": values["cost"]})
    session.connection().execute(_ADD_EVENT, [
        {"job_id": job_id, "from_state": before.value, "to_state": after.value, "at": now,
         "detail": detail if after is target else None}
        for before, after in legs
    ])
    return True


# Built once: the steps run these thousands of times, and building a statement costs more CPU
# than running it. The SET clause comes from the parameters given at execution.
_JOBS: Table = Job.__table__  # type: ignore[assignment]
_UPDATE_JOB = update(_JOBS).where(_JOBS.c.id == bindparam("_id"), _JOBS.c.state == bindparam("_state"))
_UPDATE_HELD_JOB = _UPDATE_JOB.where(_JOBS.c.lease_owner == bindparam("_owner"))
_ADD_EVENT = insert(JobEvent)
_BATCHES: Table = Batch.__table__  # type: ignore[assignment]
_ADD_CHARGE = (update(_BATCHES)
               .where(_BATCHES.c.id == select(_JOBS.c.batch_id).where(_JOBS.c.id == bindparam("job_id"))
                      .scalar_subquery())
               .values(charged_usd=_BATCHES.c.charged_usd + bindparam("cost", type_=Micros())))
_DELETE_OUTPUTS = delete(Output).where(Output.job_id == bindparam("job_id"))
_ADD_OUTPUT = insert(Output)


def update_job(session: Session, job_id: int, state: JobState, owner: str | None, /, **values: Any) -> bool:
    """Write columns of a job in ``state`` (held by ``owner`` if given); False if it was not there.

    Never the state itself (a TypeError): a state change is a ``transition``, checked against
    the table and logged.
    """
    if "state" in values:
        raise TypeError(f"update_job cannot change the state of job {job_id}; use store.transition")
    return _write(session, job_id, state, owner, values)


def _write(session: Session, job_id: int, state: JobState, owner: str | None, values: dict[str, Any]) -> bool:
    """The conditional UPDATE under ``update_job`` and ``transition``.

    Runs as a Core statement on the session's connection: the ORM's bulk-update bookkeeping
    (matching loaded objects) costs more than the UPDATE itself, and steps hold no loaded rows.
    """
    where = {"_id": job_id, "_state": state.value}
    stmt = _UPDATE_JOB if owner is None else _UPDATE_HELD_JOB
    if owner is not None:
        where["_owner"] = owner
    return bool(session.connection().execute(stmt, {**values, **where}).rowcount)


def replace_outputs(session: Session, job_id: int, rows: list[dict[str, Any]]) -> None:
    """Record the job's verified files (``Output`` column values), in place of any recorded before."""
    connection = session.connection()
    connection.execute(_DELETE_OUTPUTS, {"job_id": job_id})
    if rows:
        connection.execute(_ADD_OUTPUT, rows)


def _due(now: float, due_by: float | None = None) -> Any:
    """Due by ``due_by`` (default: now) and not leased at ``now``."""
    return and_(
        Job.next_action_at <= (now if due_by is None else due_by),
        or_(Job.lease_until.is_(None), Job.lease_until < now),
    )


def claim(
    session: Session,
    *,
    job_states: Iterable[JobState],
    now: float,
    lease: Lease,
    limit: int,
    batch_id: int | None = None,
    due_by: float | None = None,
    where: Any = None,
    oldest_submit_first: bool = False,
) -> list[int]:
    """Lease up to ``limit`` due jobs in ``job_states`` to ``lease.owner``; return their ids.

    ``due_by`` (default ``now``) also takes jobs that come due before then (the tick looks ahead);
    ``where`` adds a condition of the caller's. Jobs due first go first, or with
    ``oldest_submit_first`` those submitted first.

    PostgreSQL skips rows another claimer holds (``FOR UPDATE SKIP LOCKED``); SQLite gets the
    same effect from ``BEGIN IMMEDIATE``, which admits one writer at a time.
    """
    if limit <= 0:
        return []
    candidates = (
        select(Job.id)
        .where(Job.state.in_([s.value for s in job_states]), _due(now, due_by))
        .order_by(*((Job.submitted_at, Job.id) if oldest_submit_first else (Job.next_action_at, Job.id)))
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    if batch_id is not None:
        candidates = candidates.where(Job.batch_id == batch_id)
    if where is not None:
        candidates = candidates.where(where)
    stmt = (
        update(Job)
        .where(Job.id.in_(candidates.scalar_subquery()), _due(now, due_by))
        .values(lease_owner=lease.owner, lease_until=lease.until)
        .returning(Job.id)
    )
    return list(session.scalars(stmt))


def in_flight_counts(session: Session, now: float) -> dict[int, int]:
    """Jobs that hold (or are about to hold) an upstream slot, per batch.

    Counts the in-flight states and pending jobs leased for submitting right now.
    """
    leased_pending = and_(Job.state == JobState.PENDING.value, Job.lease_until > now)
    cond = or_(Job.state.in_([s.value for s in states.IN_FLIGHT]), leased_pending)
    rows = session.execute(select(Job.batch_id, func.count()).where(cond).group_by(Job.batch_id))
    return {batch_id: count for batch_id, count in rows.all()}


def batches_with_due_pending(session: Session, now: float) -> Sequence[Batch]:
    """Batches not cancelled that have pending jobs due now.

    Reads the due pending jobs once (``ix_jobs_due``), not once per batch: a probe per batch
    would grow with history.
    """
    due_batches = select(Job.batch_id).where(Job.state == JobState.PENDING.value, _due(now)).distinct()
    return session.scalars(select(Batch).where(Batch.cancelled_at.is_(None), Batch.id.in_(due_batches))).all()


def counts_by_state(session: Session, batch_id: int) -> dict[str, int]:
    """How many jobs of the batch are in each state."""
    return state_totals(session, batch_id)[0]


def state_totals(session: Session, batch_id: int) -> tuple[dict[str, int], int]:
    """How many jobs of the batch are in each state, and their uncertain submits in all (one scan)."""
    rows = session.execute(
        select(Job.state, func.count(), func.coalesce(func.sum(Job.uncertain_submits), 0))
        .where(Job.batch_id == batch_id).group_by(Job.state)
    ).all()
    return {state: count for state, count, _ in rows}, sum(int(uncertain) for _, _, uncertain in rows)


def odd_costs(session: Session, batch_id: int) -> int:
    """How many of the batch's jobs were answered a cost that is no amount (kept raw, not counted)."""
    return session.scalar(select(func.count()).where(Job.batch_id == batch_id, Job.odd_cost.is_not(None))) or 0


FAR_FUTURE = 1e12  # a time no job is due by: "due whenever" for a claim that looks ahead without limit


def spend(session: Session, batch_id: int) -> tuple[Decimal, int]:
    """Dollars charged so far, and how many jobs are in flight without a recorded cost.

    The first is the batch's running total (kept by ``transition``), the second counts only the
    jobs in flight: neither grows with the size of the batch.
    """
    charged = session.scalar(select(Batch.charged_usd).where(Batch.id == batch_id))
    open_states = [s.value for s in (*states.IN_FLIGHT, JobState.FETCHING)]
    committed = session.scalar(
        select(func.count()).where(Job.batch_id == batch_id, Job.state.in_(open_states), Job.cost.is_(None))
    )
    return charged or Decimal(0), int(committed or 0)


def park_pending(session: Session, batch_id: int, job_id: int, owner: str, *, reason: str, now: float) -> int:
    """Stop a batch's submits: its pending jobs (this one, leased by ``owner``, and every unleased
    one) move to ``parked`` until ``unpark``. The reason goes on the batch and in each job's event.
    Returns how many jobs were parked. A batch parked already for the same reason keeps the time it
    was first parked (several jobs in flight may each find the budget spent: one event)."""
    batch = session.get(Batch, batch_id)
    if batch is not None and batch.options.get("parked") != reason:
        batch.options = {**batch.options, "parked": reason, "parked_at": now}
    mine = transition(session, job_id, JobState.PENDING, JobState.PARKED, now=now, owner=owner, release=True,
                      detail=reason)
    others = transition_all(session, batch_id, JobState.PENDING, JobState.PARKED, now=now, detail=reason)
    return int(mine) + len(others)


def pause(session: Session, batch_id: int, reason: str, *, now: float) -> int:
    """Pause a batch for a setup error (the API unreachable, the token refused): its pending jobs, leased
    ones too (their workers would only fail the same way), move to ``parked`` with ``reason`` in their
    events, and the batch keeps the reason as both ``parked`` and ``paused`` until ``unpark``. Their
    attempts are untouched. Returns how many were parked."""
    batch = session.get(Batch, batch_id)
    if batch is not None and batch.options.get("paused") != reason:
        batch.options = {**batch.options, "parked": reason, "parked_at": now, "paused": reason}
    return len(transition_all(session, batch_id, JobState.PENDING, JobState.PARKED, now=now, detail=reason,
                              leased=True))


def unpark(session: Session, batch_id: int, now: float, *, only: Any = None, still: str | None = None) -> int:
    """Make a batch's parked jobs (those ``only`` selects) pending again, due now, and clear the reason
    (and a pause), or set it to ``still`` when some stay parked (the rest of a pilot); returns how many."""
    batch = session.get(Batch, batch_id)
    if batch is not None:
        batch.options = {k: v for k, v in batch.options.items() if k not in ("parked", "parked_at", "paused")}
        if still is not None:
            batch.options = {**batch.options, "parked": still}
    return len(transition_all(session, batch_id, JobState.PARKED, JobState.PENDING, now=now, detail="resumed",
                              next_action_at=now, only=only))


def transition_all(
    session: Session,
    batch_id: int,
    source: JobState,
    target: JobState,
    *,
    now: float,
    detail: str | None = None,
    only: Any = None,
    leased: bool = False,
    **values: Any,
) -> list[int]:
    """``transition`` for every unleased job of a batch in ``source`` (optionally filtered by ``only``);
    one UPDATE ... RETURNING, then one event row each. Returns the ids moved.

    ``leased``: jobs a worker holds too (their lease is dropped). Safe because every step write is
    conditional on the state the step found: the worker's next write finds the job moved and stops.
    """
    states.check(source, target)
    _implied(values, source, target, now)
    stmt = update(Job).where(Job.batch_id == batch_id, Job.state == source.value)
    if not leased:
        stmt = stmt.where(or_(Job.lease_until.is_(None), Job.lease_until < now))
    if only is not None:
        stmt = stmt.where(only)
    ids = list(session.scalars(stmt.values(state=target.value, lease_owner=None, lease_until=None, **values)
                               .returning(Job.id)))
    if ids:
        session.execute(insert(JobEvent), [
            {"job_id": i, "from_state": source.value, "to_state": target.value, "at": now, "detail": detail}
            for i in ids
        ])
    return ids


def claim_one(session: Session, job_id: int, state: JobState, *, now: float, lease: Lease) -> bool:
    """Lease one job in ``state`` if nobody holds it, whatever its next_action_at."""
    stmt = (
        update(Job)
        .where(Job.id == job_id, Job.state == state.value, or_(Job.lease_until.is_(None), Job.lease_until < now))
        .values(lease_owner=lease.owner, lease_until=lease.until)
    )
    result: CursorResult[Any] = session.execute(stmt)  # type: ignore[assignment]
    return bool(result.rowcount)


def renew_lease(session: Session, job_id: int, owner: str, until: float) -> bool:
    """Extend ``owner``'s lease on a job to ``until``; False if the lease is no longer ``owner``'s.

    A long step (a download) calls this while it progresses, so that no one claims the job
    meanwhile, and stops when it returns False: someone else holds the job now.
    """
    stmt = update(Job).where(Job.id == job_id, Job.lease_owner == owner).values(lease_until=until)
    result: CursorResult[Any] = session.execute(stmt)  # type: ignore[assignment]
    return bool(result.rowcount)


def release_leases(session: Session, job_ids: Iterable[int], owner: str, *, now: float) -> int:
    """Give back ``owner``'s leases on these jobs, started or not, due at once (a worker that stops);
    how many it held."""
    base = owner.removesuffix(STARTED)
    stmt = (update(Job).where(Job.id.in_(list(job_ids)), Job.lease_owner.in_([base, started(base)]))
            .values(lease_owner=None, lease_until=None, next_action_at=now))
    result: CursorResult[Any] = session.execute(stmt)  # type: ignore[assignment]
    return int(result.rowcount)


def transition_each(
    session: Session,
    details: dict[int, str | None],
    source: JobState,
    target: JobState,
    *,
    now: float,
    **values: Any,
) -> list[int]:
    """``transition`` for many jobs at once: those of ``details`` (job id -> event detail) still in
    ``source`` and unleased move to ``target`` in one UPDATE ... RETURNING, then one event row each.
    Returns the ids moved (the others were taken meanwhile: leave them be)."""
    states.check(source, target)
    if not details:
        return []
    _implied(values, source, target, now)
    stmt = (update(Job)
            .where(Job.id.in_(list(details)), Job.state == source.value,
                   or_(Job.lease_until.is_(None), Job.lease_until < now))
            .values(state=target.value, lease_owner=None, lease_until=None, **values)
            .returning(Job.id))
    ids = sorted(session.scalars(stmt))
    if ids:
        session.execute(insert(JobEvent), [
            {"job_id": i, "from_state": source.value, "to_state": target.value, "at": now, "detail": details[i]}
            for i in ids
        ])
    return ids


def add_outputs(session: Session, rows: list[dict[str, Any]]) -> None:
    """Record verified files (``Output`` column values) of jobs that have none yet (``transition_each``'s)."""
    if rows:
        session.connection().execute(_ADD_OUTPUT, rows)
