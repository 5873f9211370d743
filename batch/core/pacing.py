"""How the tick bundles jobs into task messages and when a claimed first poll is due (pure maths).

The tick (``batch.engine.tick``) claims jobs and asks the limiter for start times; these
functions turn those times into hand-overs, and say when a first poll brought forward is due.
Tested from tables in ``tests/unit/test_tick_groups.py``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

GROUP_WINDOW = 0.02  # jobs due within this many seconds of each other go in one hand-over ...
GROUP_MAX = 8        # ... up to this many: one task message then serves several jobs
QUEUE_BUNCH = 0.25   # first polls behind an upstream queue go in bunches of places this many seconds long


@dataclass(frozen=True)
class FirstPolls:
    """Which not-yet-polled jobs of a batch to poll now, whatever their ``next_action_at`` said at submit.

    With a learned estimate: those whose first-poll age (which may have shrunk since) comes within
    the tick. Before anything is known: a few scouts, so that a batch of quick jobs learns so.
    While the batch's jobs are seen moving through upstream's queue: those the queue reaches
    within the tick, in submit order (``QueueModel``), and no others.
    """

    batch_id: int
    submitted_by: float
    limit: int
    age: float | None  # the first-poll age; None for scouts (due now)
    spacing: float | None = None  # behind an upstream queue: oldest submit first, this many seconds apart


@dataclass
class _Group:
    first: float  # the first job's time
    last: float   # the last job's time
    job_ids: list[int]


def groups(targets: Sequence[tuple[float, str, int]]) -> list[tuple[float, list[int]]]:
    """(start time, job ids) in time order: jobs of one kind due within ``GROUP_WINDOW`` of a group's
    first, at most ``GROUP_MAX`` of them.

    A task message costs a worker about as much CPU as a whole step, so jobs due together share
    one. Kinds are not mixed: a submit queued behind a group's polls and downloads would start
    late, and the submit budget of that moment would be lost. Paced calls are further apart than
    the window and still go one per message.
    """
    found: list[_Group] = []
    open_group: dict[str, _Group] = {}  # by kind
    for at, kind, job_id in sorted(targets):
        group = open_group.get(kind)
        if group is not None and at - group.first <= GROUP_WINDOW and len(group.job_ids) < GROUP_MAX:
            group.job_ids.append(job_id)
            group.last = at
        else:
            open_group[kind] = _Group(at, at, [job_id])
            found.append(open_group[kind])
    # a group starts at its last job's time: none of its calls may go before the slot the
    # limiter planned for it (the limiter would turn it back, to wait for the next tick)
    return sorted(((g.last, g.job_ids) for g in found), key=lambda g: g[0])


def due(due_at: float, first: FirstPolls | None, submitted: float | None, tick: tuple[float, float],
        places: dict[int, int]) -> float:
    """When a claimed job's step is due: its ``next_action_at``, or its first poll brought forward
    (behind an upstream queue: spread over the tick in submit order, at the queue's pace, in
    bunches that share a task message; see ``queue_bunch``)."""
    now, due_by = tick
    if first is None or submitted is None:
        return due_at
    if first.spacing is not None:
        place = places[first.batch_id] = places.get(first.batch_id, -1) + 1
        size = queue_bunch(first.spacing)
        return min(now + ((place // size + 1) * size - 1) * first.spacing, due_by)
    if first.age is None:
        return now
    return min(due_at, submitted + first.age)


def queue_bunch(spacing: float) -> int:
    """How many consecutive places behind an upstream queue are polled together, at the last one's time.

    A queue moving one place every few hundredths of a second would otherwise cost one task
    message per poll, each as dear as the poll itself; a bunch waits at most ``QUEUE_BUNCH``
    seconds for the queue to reach its last place.
    """
    return max(1, min(GROUP_MAX, int(QUEUE_BUNCH / spacing))) if spacing > 0 else GROUP_MAX
