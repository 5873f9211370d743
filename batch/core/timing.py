"""Retry backoff, run-time estimates and poll timing, as pure functions of their inputs.

No clock and no global random state here: callers pass ages and a ``rand`` callable returning a
float in [0, 1), so every schedule is reproducible in a table-driven test.

The poll schedule in one picture (ages in seconds since the submit)::

    0 ........ low ........... first .... gap .. gap . gap . high . growing gaps ... max_gap
               ^ 5th percentile ^ low + 40 % of the window        ^ 95th percentile

Once the batch's data tell the high quantile, polls close in on it: each gap is a fifth of the
time left until a little past ``high``, never below the closing gap (7 % of the window). A job not
done at age ``a`` is done somewhere in [a, high], so the later it gets the closer the next poll is
worth making; even gaps would spend polls early, where few jobs finish per second of window, and
lag late. Against uniform 5-30 s run times this takes about 3.3 reads of a job's result for a
median lag of about 1.7 s (even gaps: 3.6 reads for 2.4 s), at the price of a later first poll:
jobs done before it wait for it (a 95th percentile of about 9 s). Past ``high`` each gap grows by
half of the time overdue, up to ``max_gap``. A job still in the upstream queue is not asked again
before its position can have moved. While the high quantile is the prior's guess (2-40 s, the
vendor's typical range, until 10 jobs finished and the median is known), polls are spread evenly,
a sixth of the window apart, the first one gap past ``low`` (about 8 s for the prior); the tick
meanwhile sends a few scouts early (polled at doubling ages) so that a batch of quick jobs learns
so fast.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

Rand = Callable[[], float]


def backoff_delay(attempt: int, rand: Rand, *, base: float = 1.0, cap: float = 60.0) -> float:
    """Delay before retry number ``attempt`` (1-based): exponential, "equal jitter", capped.

    Half of the exponential step is kept, the other half drawn at random, so retries of many
    jobs spread out without ever collapsing to zero.
    """
    step = min(cap, base * 2.0 ** max(0, attempt - 1))
    return step / 2 + rand() * step / 2


def pause_after_429(retry_after: float | None, episode: int, rand: Rand, *, base: float = 1.0,
                    cap: float = 60.0) -> float:
    """How long everyone pauses after a 429: ``Retry-After`` when given, else backoff on the episode count."""
    if retry_after is not None and math.isfinite(retry_after) and retry_after >= 0:
        return retry_after
    return backoff_delay(episode, rand, base=base, cap=cap)


@dataclass(frozen=True)
class RuntimeEstimate:
    """How long upstream takes from submit to completion: a low and a high quantile (seconds).

    ``high_learned``: the high quantile comes from the batch's data (read off it or extrapolated
    from its median), not from the prior.
    """

    low: float
    high: float
    samples: int = 0
    high_learned: bool = False


# Before enough jobs of the batch finished: the vendor's typical "up to 40 s", checked early.
PRIOR = RuntimeEstimate(low=2.0, high=40.0, samples=0)
MIN_SAMPLES = 5          # finished jobs before the low quantile is trusted
MIN_SAMPLES_HIGH = 20    # ... before the high quantile is read off the data
MIN_SAMPLES_MEDIAN = 10  # ... before the high quantile is extrapolated from the median
LOW_Q, MEDIAN_Q, HIGH_Q = 0.05, 0.5, 0.95


def survival_quantiles(finished: Sequence[float], running: Sequence[float],
                       quantiles: Sequence[float]) -> dict[float, float]:
    """Kaplan-Meier: the run time below which a fraction ``q`` of jobs finish, for each ``q`` the data reaches.

    ``finished`` are run times of jobs that completed; ``running`` the ages of jobs still
    running (right-censored: all we know is that they take longer). Ignoring the running ones
    would bias every quantile low early in a batch, when only the quick jobs have finished.
    """
    items = sorted([(t, True) for t in finished] + [(t, False) for t in running], key=lambda x: (x[0], not x[1]))
    at_risk = len(items)
    survival = 1.0
    found: dict[float, float] = {}
    pending = sorted(quantiles)
    for t, is_event in items:
        if is_event:
            survival *= 1.0 - 1.0 / at_risk
            while pending and 1.0 - survival >= pending[0] - 1e-12:
                found[pending.pop(0)] = t
        at_risk -= 1
    return found


def estimate_runtime(durations: Sequence[float], running_ages: Sequence[float] = (),
                     prior: RuntimeEstimate = PRIOR) -> RuntimeEstimate:
    """Learn the 5th and 95th percentile of the batch's run times; the prior until there is enough data.

    The high quantile comes from the data once 20 jobs finished and the data reaches it; before
    that it is extrapolated from the median (as if run times were spread evenly), and before the
    median is known it stays at the prior's.
    """
    finished = [d for d in durations if d >= 0 and math.isfinite(d)]
    if len(finished) < MIN_SAMPLES:
        return prior
    q = survival_quantiles(finished, [a for a in running_ages if a >= 0], (LOW_Q, MEDIAN_Q, HIGH_Q))
    low = q.get(LOW_Q, prior.low)
    learned = True
    if HIGH_Q in q and len(finished) >= MIN_SAMPLES_HIGH:
        high = q[HIGH_Q]
    elif MEDIAN_Q in q and len(finished) >= MIN_SAMPLES_MEDIAN:
        spread = (HIGH_Q - LOW_Q) / (MEDIAN_Q - LOW_Q)
        high = low + spread * (q[MEDIAN_Q] - low)
    else:
        high, learned = max(prior.high, low), False
    return RuntimeEstimate(low=low, high=max(high, low), samples=len(finished), high_learned=learned)


@dataclass(frozen=True)
class PollPolicy:
    """Knobs of the poll schedule (seconds unless said otherwise)."""

    min_gap: float = 0.5
    max_gap: float = 30.0
    window_polls: float = 6.0          # behind an upstream queue: polls spread evenly across the window
    first_share: float = 0.4           # the first poll comes at ``low`` + this share of the window
    closing: float = 0.2               # inside the window: each gap is this share of the time left ...
    closing_gap: float = 0.07          # ... never below this share of the window (the gap at ``high``)
    overdue_growth: float = 0.5        # past ``high``: closing gap + this fraction of the time overdue
    seconds_per_queue_position: float = 2.0
    jitter: float = 0.1                # +-10 %, so polls of jobs submitted together spread out


DEFAULT_POLICY = PollPolicy()


def poll_gap(estimate: RuntimeEstimate, policy: PollPolicy = DEFAULT_POLICY) -> float:
    """The even gap that spreads ``window_polls`` polls over the expected window (behind a queue)."""
    return _clamp((estimate.high - estimate.low) / policy.window_polls, policy.min_gap, policy.max_gap)


def closing_gap(estimate: RuntimeEstimate, policy: PollPolicy = DEFAULT_POLICY) -> float:
    """The shortest gap inside the window, the one at the high quantile."""
    return _clamp((estimate.high - estimate.low) * policy.closing_gap, policy.min_gap, policy.max_gap)


def first_poll_age(estimate: RuntimeEstimate, policy: PollPolicy = DEFAULT_POLICY) -> float:
    """The age at which a job is first polled: ``first_share`` of the expected window past its low
    end, and never sooner than one even gap past it (in a narrow window the even gap is the
    minimum gap); one even gap past it while the high end is the prior's guess (a guess too high
    would otherwise put every first poll late)."""
    gap = poll_gap(estimate, policy)
    if not estimate.high_learned:
        return estimate.low + gap
    return estimate.low + max(gap, (estimate.high - estimate.low) * policy.first_share)


def next_poll_delay(
    age: float,
    estimate: RuntimeEstimate,
    rand: Rand,
    *,
    queue_position: int | None = None,
    seconds_per_position: float | None = None,
    behind_queue: bool = False,
    policy: PollPolicy = DEFAULT_POLICY,
) -> float:
    """Seconds from now until the next poll of a job submitted ``age`` seconds ago.

    First poll at ``first_share`` of the window, then gaps that close in on the high quantile (a
    share of the time left, never below the closing gap), then gaps that grow with the time overdue,
    up to ``max_gap``. While the high quantile is the prior's, the first poll comes one even gap
    (``poll_gap``) past the low quantile and the gaps inside the window are even. While queued at
    ``queue_position``, not before the position can have moved: ``seconds_per_position`` each
    (learned from the queue's pace), else the policy's. A scout (a job the tick polled before its
    first-poll age, to learn a new batch's run time) is polled again at double its age until the
    first-poll age. ``behind_queue``: the batch's jobs wait in upstream's queue, so a job's age is
    mostly time spent queued, and being past the high quantile says nothing of a slow run: polls are
    spread evenly (``poll_gap``).
    """
    # the gap at the high quantile: polls close in on it once it is learned, else come evenly
    closing = closing_gap(estimate, policy) if estimate.high_learned else poll_gap(estimate, policy)
    first = first_poll_age(estimate, policy)
    if 0 < age < first:  # polled before its first-poll age: a scout, sent while the run time was unknown
        delay = min(first - age, max(policy.min_gap, age))
    elif age < first:
        delay = first - age
    elif behind_queue:
        delay = poll_gap(estimate, policy)
    elif age <= estimate.high and estimate.high_learned:
        delay = max(closing, (estimate.high + closing - age) * policy.closing)
    elif age <= estimate.high:
        delay = closing
    else:
        delay = closing + (age - estimate.high) * policy.overdue_growth
    if queue_position:
        delay = max(delay, queue_position * (seconds_per_position or policy.seconds_per_queue_position))
    delay = _clamp(delay, policy.min_gap, policy.max_gap)
    return delay * (1 - policy.jitter + 2 * policy.jitter * rand())


MIN_SIGHTING_SPAN = 0.5  # seconds between two queue sightings before their difference is trusted


@dataclass(frozen=True)
class Sighting:
    """One job's place in upstream's queue: ``position`` (1 = next to start), seen at ``seen_at``.

    ``rank`` is the job's place in its batch's submit order (how many were submitted before it).
    """

    rank: int
    position: int
    seen_at: float


@dataclass(frozen=True)
class QueueModel:
    """Upstream's queue as sightings show it: where the latest sighted job stood, and how fast it moves.

    Upstream starts jobs in the order they came. A job submitted ``k`` places after the sighted
    one stood ``k`` positions behind it, so it starts once the queue has moved that far: the
    batch's not-yet-polled jobs are polled in submit order as the queue reaches them, each once,
    instead of each at its age (which, deep in a queue, finds most still waiting: a wasted
    result read and then a status read for the position).
    """

    latest: Sighting
    rate: float  # positions per second

    def started_by(self, at: float) -> int:
        """The highest submit rank expected to have started by ``at`` (below 0: none yet)."""
        moved = math.floor((at - self.latest.seen_at) * self.rate)
        return self.latest.rank + moved - self.latest.position

    def seconds_per_position(self) -> float:
        """How long the queue takes to move one place."""
        return 1.0 / self.rate


def queue_model(first: Sighting, last: Sighting) -> QueueModel | None:
    """The queue's pace between an earlier and a later sighting; None unless it is seen moving.

    Had nothing started between them, the later job would stand where the earlier one stood plus
    their distance in submit order; the shortfall is how far the queue moved. (Jobs of other
    customers between ours only make the pace look slower, so polls come late, not early.)
    """
    span = last.seen_at - first.seen_at
    moved = first.position + (last.rank - first.rank) - last.position
    if span < MIN_SIGHTING_SPAN or moved <= 0:
        return None
    return QueueModel(last, moved / span)


def _clamp(value: float, low: float, high: float) -> float:
    return max(low, min(high, value))
