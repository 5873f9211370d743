"""One short step of a job's life per call: submit, poll, fetch or download.

A step reads the job, makes at most one API call (or one round of downloads) outside any
transaction, and writes the outcome with ``store.transition`` in a short transaction. It
never sleeps: waiting is writing ``next_action_at`` and dropping the lease, so that the tick
brings the job back when it is due. Every write is conditional on the lease still being ours.
Each handler returns ``Next``: ``CONTINUE`` when the job is still ours and its next step is
due now, ``STOP`` otherwise; the ways a step writes its job are in ``engine.moves``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from sqlalchemy.orm import Session

from batch import errors, metrics
from batch.core.cost import within_budget
from batch.core.states import JobState
from batch.core.timing import next_poll_delay
from batch.engine import breaker
from batch.engine.moves import CONTINUE, STOP, Ctx, Next, acquired, leave, move, retry_or_fail, wait, with_changes
from batch.engine.reading import READING, cancel_upstream, read_failed
from batch.engine.runtime import Runtime
from batch.files.cache import find_reusable, reuse
from batch.files.download import DownloadLimits, Renewal, SavedFile
from batch.files.outputs import download_all, output_rows
from batch.storage import hooks as storage
from batch.store import jobs as store
from batch.store import owners, queries
from batch.store.db import transaction
from batch.upstream.client import Result

S = JobState
T = TypeVar("T")
log = logging.getLogger(__name__)
MAX_STEPS_PER_CALL = 4
TWIN_WAIT = (0.5, 60.0)  # seconds after the identical job's next step, at most
DOWNLOAD_BUSY_SECONDS = 2.0  # a job whose worker has no free download slot comes back after 2 to 4 s
Handler = Callable[[Runtime, Ctx], Next]


def advance_all(rt: Runtime, job_ids: Iterable[int], owner: str) -> None:
    """``advance`` each job in turn; one job's unexpected failure does not hold up the others.

    First the leases are started (``store.start``), in the transaction that reads the jobs: only the
    jobs whose lease is still the message's are stepped (a lease handed back after a broker loss, or
    taken by a later tick, is not). The jobs are read together (one query, and one for the
    fingerprints among them that a finished job shares), not one by one: a task often carries
    several. Every write stays conditional on the job's state and lease, so a row read a few steps
    earlier is safe.
    """
    ids = list(job_ids)
    if rt.stopping.is_set():  # this worker is stopping: another one takes them at once
        give_back(rt, ids, owner)
        return
    try:
        ids, first = _start(rt, ids, owner)
    except Exception:  # the database gone for a moment: the leases run out, the jobs are claimed again
        log.exception("jobs %s: starting them failed", ids)
        return
    owner = store.started(owner)
    for index, job_id in enumerate(ids):
        if rt.stopping.is_set():
            give_back(rt, ids[index:], owner)
            return
        try:
            advance(rt, job_id, owner, first.get(job_id))
        except Exception:  # e.g. the database gone for a moment: the lease expires, the job is claimed again
            log.exception("job %s: step failed", job_id)


def give_back(rt: Runtime, job_ids: Iterable[int], owner: str) -> int:
    """Drop ``owner``'s leases on these jobs, due now: a stopping worker's jobs go on elsewhere at once."""
    with transaction(rt.sessions) as session:
        return store.release_leases(session, job_ids, owner, now=rt.clock())


def _start(rt: Runtime, job_ids: list[int], owner: str) -> tuple[list[int], dict[int, Ctx]]:
    """Start ``owner``'s leases on the jobs and read those started, in one transaction."""
    with transaction(rt.sessions) as session:
        ids = store.start(session, job_ids, owner)
        return ids, _read(session, ids, store.started(owner))


def _read_all(rt: Runtime, job_ids: list[int], owner: str) -> dict[int, Ctx]:
    with rt.sessions() as session:
        return _read(session, job_ids, owner)


def _read(session: Session, job_ids: list[int], owner: str) -> dict[int, Ctx]:
    if not job_ids:
        return {}
    rows = queries.jobs_with_batches(session, job_ids)
    shared = queries.finished_prints(session, [job.fingerprint for job, _ in rows if job.state == S.PENDING.value])
    return {job.id: Ctx(job, batch, owner, maybe_cached=job.fingerprint in shared) for job, batch in rows}


def advance(rt: Runtime, job_id: int, owner: str, first: Ctx | None = None) -> None:
    """Run the job's due steps while it holds the lease ``owner`` and has more to do right now.

    ``first``: the job as already read for the first step (else it is read here).
    """
    for _ in range(MAX_STEPS_PER_CALL):
        ctx, first = first or _read_all(rt, [job_id], owner).get(job_id), None
        if ctx is None or ctx.job.lease_owner != owner:
            return
        job = ctx.job
        handler = HANDLERS.get(S(job.state))
        if handler is None:
            return
        try:
            then = handler(rt, ctx)
        except Exception as exc:  # a bug or an unforeseen failure: count it, never loop on it silently
            log.exception("job %s: step %s failed", job_id, job.state)
            _unforeseen(rt, ctx, errors.NanobatchError(f"internal error in step {job.state}: {exc!r}"))
            return
        if then is STOP:
            return
        if rt.stopping.is_set():
            give_back(rt, [job_id], owner)
            return


def _unforeseen(rt: Runtime, ctx: Ctx, exc: errors.NanobatchError) -> Next:
    """A step that raised. The job's state (as the step last wrote it) says what may have happened
    upstream: after the write-ahead move the POST may have been accepted (an uncertain submit); with
    a request upstream, the job is charged whatever we do, so its result is read again."""
    state = S(ctx.job.state)
    if state is S.SUBMITTING:
        return uncertain_submit(rt, ctx, str(exc))
    if state in READING and ctx.job.request_id:
        return read_failed(rt, ctx, exc)
    return retry_or_fail(rt, ctx, exc)


# -- submit -----------------------------------------------------------------------------------

def submit(rt: Runtime, ctx: Ctx) -> Next:
    """pending -> submitting (committed first) -> POST -> queued with the request id."""
    if _settled_unpaid(rt, ctx):
        return STOP
    if not _budget_allows(rt, ctx) or not acquired(rt, ctx, "submit"):
        return STOP
    body, now = storage.sign(ctx.job, ctx.batch), rt.clock()  # signed before the write-ahead move
    if rt.stopping.is_set():  # a stopping worker starts no POST it might not live to see answered
        give_back(rt, [ctx.job.id], ctx.owner)
        return STOP
    # read before the POST too: between its answer and the request id's write nothing may fail
    first = next_poll_delay(0.0, rt.estimate(ctx.batch.id), rt.rand)
    # the lease renewed with the write-ahead mark: a step that came late (a loaded worker) must not see its
    # lease expire mid-POST, the job then recovered by another worker as an uncertain submit and sent again
    if not move(rt, ctx, S.SUBMITTING, release=False, submits=ctx.job.submits + 1, submitted_at=now,
                lease_until=now + rt.settings.lease_seconds):
        return STOP
    ctx = Ctx(with_changes(ctx.job, state=S.SUBMITTING.value), ctx.batch, ctx.owner)
    with rt.posting():  # until its answer is written: a stopping worker waits for it
        return _post(rt, ctx, body, first)


def _post(rt: Runtime, ctx: Ctx, body: dict[str, Any], first: float) -> Next:
    """The submit's POST, its answer written: ``queued`` with the request id, or why not."""
    try:
        request_id = rt.client.submit(body)
    except errors.ApiError as exc:
        if breaker.tripped(rt, ctx, exc) is STOP:
            return STOP
        if isinstance(exc, errors.UncertainDelivery):
            return uncertain_submit(rt, ctx, str(exc))
        if isinstance(exc, errors.RetryableError):
            return retry_or_fail(rt, ctx, exc, back_to=S.PENDING)
        return leave(rt, ctx, S.FAILED, error=str(exc))
    except Exception as exc:  # ours, not upstream's, and maybe after upstream took the job: never a plain retry
        log.exception("job %s: submit failed after it was sent", ctx.job.id)
        return uncertain_submit(rt, ctx, f"internal error during submit: {exc!r}")
    leave(rt, ctx, S.QUEUED, request_id=request_id, next_action_at=rt.clock() + first,
          upstream_status=None, queue_position=None, detail=f"request {request_id}")  # not polled yet
    rt.limiter.succeeded()  # after the request id is kept: a broker gone now must not lose it
    rt.breaker.succeeded()
    return STOP


def _reuse_cached(rt: Runtime, ctx: Ctx) -> bool:
    """Finish the job as ``cached`` from an identical earlier job's verified files, if there are any."""
    with rt.sessions() as session:
        earlier = find_reusable(session, ctx.job.fingerprint, ctx.job.id)
    if earlier is None:
        return False
    copies = reuse(earlier.outputs, ctx.batch.output_dir, ctx.job.output_name, earlier.storage)
    _finish_with_files(rt, ctx, S.CACHED, storage.publish(ctx.batch, copies),
                       f"reused the files of job {earlier.job_id}", cost=0.0)
    return True


def _settled_unpaid(rt: Runtime, ctx: Ctx) -> bool:
    """True when no submit is due: the batch is cancelled, an identical job under way pays (this one
    waits for its files), or an identical finished job's files answer it (``cached``).

    Unless ``--force``, the job first takes its fingerprint (``store.owners.take``): of identical
    jobs about to submit, in any batch, exactly one pays.
    """
    if ctx.batch.cancelled_at is not None:
        leave(rt, ctx, S.CANCELLED, detail="batch cancelled before submit")
        return True
    if ctx.batch.options.get("force"):
        return False
    with transaction(rt.sessions) as session:
        taken = owners.take(session, ctx.job.fingerprint, ctx.job.id, rt.clock())
    if taken.holder is not None:
        _wait_for_twin(rt, ctx, taken.holder)
        return True
    # a job that held the fingerprint before may have finished since this one was read: look again
    return (ctx.maybe_cached or not taken.fresh) and _reuse_cached(rt, ctx)


def _wait_for_twin(rt: Runtime, ctx: Ctx, holder: int) -> Next:
    """An identical job is under way (it pays): come back when it may have finished, and take its files then.

    Not before the holder's next step is due (it cannot finish sooner), within ``TWIN_WAIT`` seconds.
    The first wait on a holder is an event row; the waits after it only move ``next_action_at``. If
    the holder ends without files (failed, cancelled), this job takes the fingerprint and pays itself.
    """
    now = rt.clock()
    with rt.sessions() as session:
        due = owners.next_action_of(session, holder)
    delay = min(max((due or now) - now, 0.0) + TWIN_WAIT[0], TWIN_WAIT[1])
    if ctx.job.waiting_on == holder:
        return wait(rt, ctx, delay)
    return leave(rt, ctx, S.PENDING, waiting_on=holder, next_action_at=now + delay,
                 detail=f"waiting for job {holder}, identical and under way: its files are copied, not paid again")


def _finish_with_files(rt: Runtime, ctx: Ctx, target: JobState, saved: list[SavedFile], detail: str,
                       **values: Any) -> bool:
    """Move the job to ``target`` and record its verified files, in one transaction; False if it had moved on."""
    with transaction(rt.sessions) as session:
        moved = store.transition(session, ctx.job.id, S(ctx.job.state), target, now=rt.clock(), owner=ctx.owner,
                                 release=True, detail=detail, **values)
        if moved:
            store.replace_outputs(session, ctx.job.id, output_rows(ctx.job, saved))
    return bool(moved)


def _budget_allows(rt: Runtime, ctx: Ctx) -> bool:
    """Check the batch budget; when this submit would pass it, park the batch's pending jobs."""
    if ctx.batch.budget_usd is None:
        return True
    price = rt.prices.job_price(ctx.job.inputs)
    with rt.sessions() as session:
        charged, committed = store.spend(session, ctx.batch.id)
    if within_budget(ctx.batch.budget_usd, charged, committed * price, price):
        return True
    with transaction(rt.sessions) as session:
        store.park_pending(session, ctx.batch.id, ctx.job.id, ctx.owner,
                           reason=f"budget ${ctx.batch.budget_usd:.2f} reached", now=rt.clock())
    return False


def uncertain_submit(rt: Runtime, ctx: Ctx, why: str) -> Next:
    """A POST may have been accepted without our knowing its request id: apply the explicit policy.

    ``resubmit`` sends it again, flagged as a possible duplicate charge; ``hold`` parks the job
    in ``held`` for a person to release or cancel. Either way it is counted on the job.
    """
    count = ctx.job.uncertain_submits + 1
    if rt.settings.uncertain_submit == "hold":
        return leave(rt, ctx, S.HELD, uncertain_submits=count,
                     detail=f"uncertain submit, held: {why}", error=f"uncertain submit: {why}")
    return leave(rt, ctx, S.PENDING, uncertain_submits=count, next_action_at=rt.clock(),
                 detail=f"uncertain submit, resubmitting (possible duplicate charge): {why}")


def recover_submitting(rt: Runtime, ctx: Ctx) -> Next:
    """A job found in ``submitting`` with an expired lease: its worker died around the POST."""
    return uncertain_submit(rt, ctx, "worker lost during submit")


# -- poll and fetch -----------------------------------------------------------------------------

def poll(rt: Runtime, ctx: Ctx) -> Next:
    """Ask upstream how the job is doing: ``/result``, or ``/status`` to learn a queued job's position.

    A poll reads ``/result`` (a job found finished costs one call, not two), except right after
    ``/result`` said the job was still queued: then ``/status`` gives its queue position, the wait
    is set by it, and the poll after that reads ``/result`` again.
    """
    if ctx.batch.cancelled_at is not None and ctx.job.state == S.QUEUED.value and cancel_upstream(rt, ctx):
        return STOP
    if ctx.job.upstream_status == "in_queue" and ctx.job.queue_position is None:
        return _api_step(rt, ctx, "status", lambda: rt.client.status(ctx.job.request_id or ""),
                         lambda answer: _after_status(rt, ctx, answer.status, answer.queue_position))
    return fetch(rt, ctx)


def _api_step(rt: Runtime, ctx: Ctx, kind: str, call: Callable[[], T], then: Callable[[T], Next]) -> Next:
    """One budgeted API call: wait for the limiter, call, then act on the answer or the error."""
    if not acquired(rt, ctx, kind):
        return STOP
    try:
        answer = call()
    except errors.ApiError as exc:
        if breaker.tripped(rt, ctx, exc) is STOP:
            return STOP
        if isinstance(exc, errors.RetryableError):  # upstream has the request: read it again, no new attempt
            return read_failed(rt, ctx, exc)
        return leave(rt, ctx, S.FAILED, error=str(exc))
    rt.limiter.succeeded()
    rt.breaker.succeeded()
    return then(answer)


def fetch(rt: Runtime, ctx: Ctx) -> Next:
    """Read the job's result: its outputs when finished, else when to ask again."""
    return _api_step(rt, ctx, "result", lambda: rt.client.result(ctx.job.request_id or ""),
                     lambda result: _after_result(rt, ctx, result))


def _next_poll(rt: Runtime, ctx: Ctx, target: JobState, upstream: str, position: int | None) -> Next:
    now = rt.clock()
    age = now - (ctx.job.submitted_at or now)
    queue = rt.queue(ctx.batch.id) if position or upstream == "in_progress" else None
    delay = next_poll_delay(age, rt.estimate(ctx.batch.id), rt.rand, queue_position=position,
                            seconds_per_position=queue.seconds_per_position() if queue else None,
                            behind_queue=queue is not None)
    values: dict[str, Any] = {"upstream_status": upstream, "queue_position": position, "polls": ctx.job.polls + 1,
                              "position_at": now if position else None}
    if target.value == ctx.job.state:
        return wait(rt, ctx, delay, **values)
    return leave(rt, ctx, target, next_action_at=now + delay, **values)


def _after_status(rt: Runtime, ctx: Ctx, status: str, position: int | None) -> Next:
    if status == "in_queue":
        return _next_poll(rt, ctx, S.QUEUED, status, position)
    if status == "in_progress":
        return _next_poll(rt, ctx, S.RUNNING, status, None)
    if status == "cancelled":
        return leave(rt, ctx, S.CANCELLED, upstream_status=status, detail="cancelled upstream")
    moved = move(rt, ctx, S.FETCHING, release=False, upstream_status=status, polls=ctx.job.polls + 1,
                 completed_at=rt.clock(), next_action_at=rt.clock())
    return CONTINUE if moved else STOP  # the result is to be read now


def _after_result(rt: Runtime, ctx: Ctx, result: Result) -> Next:
    status = result.status
    if status == "in_queue" and ctx.job.state == S.QUEUED.value:
        # still waiting upstream: ask its position now (the next poll would anyway), so that the
        # queue is sighted while the jobs behind it can still be polled at its pace
        with transaction(rt.sessions) as session:
            kept = store.update_job(session, ctx.job.id, S.QUEUED, ctx.owner, upstream_status=status,
                                    queue_position=None, position_at=None, polls=ctx.job.polls + 1)
        return CONTINUE if kept else STOP
    if status in ("in_queue", "in_progress"):
        target = S.QUEUED if status == "in_queue" and ctx.job.state == S.QUEUED.value else S.RUNNING
        return _next_poll(rt, ctx, target, status, None)
    common: dict[str, Any] = {"upstream_status": status, "cost": result.cost, "odd_cost": result.odd_cost,
                              "polls": ctx.job.polls + 1, "result_raw": result.kept_raw()}
    if status == "cancelled":
        return leave(rt, ctx, S.CANCELLED, detail="cancelled upstream", **common)
    again = storage.sign_again(ctx.job, status, result.error, rt.settings.max_attempts, rt.clock())
    if again is not None:
        return leave(rt, ctx, S.PENDING, via=S.FAILED, **again, **common)
    if status == "failed":
        return leave(rt, ctx, S.FAILED, error=result.error or "failed upstream", **common)
    if not result.urls:  # paid for, but listed in a shape we cannot read: the answer is kept to read again
        return leave(rt, ctx, S.FAILED, error="result succeeded but lists no output nanobatch can read "
                                             "(the answer is kept in the job's result_raw)", **common)
    return _record_paid_result(rt, ctx, {"result_urls": result.urls, "completed_at": _completed_at(rt, ctx, result),
                                         **common})


def _record_paid_result(rt: Runtime, ctx: Ctx, result: dict[str, Any]) -> Next:
    """Commit the answer of a succeeded ``/result`` (its cost, output URLs) on its own, then download.

    The cost reaches the batch's total here, before any file is written: whatever happens to the
    download (disk full, a file that cannot be renamed, a bad image), what upstream charged is
    recorded, and the job keeps its request id and result URLs for ``retry`` to download again.
    """
    cost, odd = result.get("cost"), result.get("odd_cost")
    detail = (f"result paid ${cost}" if cost is not None else
              f"result paid, at a cost that is no amount ({odd}: kept, not counted)" if odd else "result ready")
    if not move(rt, ctx, S.DOWNLOADING, release=False, next_action_at=rt.clock(), detail=detail, **result):
        return STOP
    return _download(rt, Ctx(with_changes(ctx.job, state=S.DOWNLOADING.value, **result), ctx.batch, ctx.owner))


def _completed_at(rt: Runtime, ctx: Ctx, result: Result) -> float:
    """When upstream finished: submit time + upstream's own run time when it says, else when we saw it.

    Our observation lags the real end by up to a poll gap; learning run times from it would make
    a late first poll confirm itself (every job "takes" exactly until its first poll).
    """
    seen: float = ctx.job.completed_at or rt.clock()
    if result.upstream_seconds is None or ctx.job.submitted_at is None:
        return seen
    return min(seen, ctx.job.submitted_at + result.upstream_seconds)


def download(rt: Runtime, ctx: Ctx) -> Next:
    """A job in ``downloading`` (its result recorded and paid): download and verify its outputs.

    Only while one of the worker's download slots is free; otherwise the job comes back a little
    later (no attempt spent), and the thread goes on submitting and polling other jobs.
    """
    with rt.download_slot() as free:
        if not free:
            return wait(rt, ctx, DOWNLOAD_BUSY_SECONDS * (1 + rt.rand()))
        return _download(rt, ctx)


def _download(rt: Runtime, ctx: Ctx) -> Next:
    """Download and verify every output, then record the files and succeed in one transaction.

    A failure leaves the job with its request id, result URLs and cost: a network hiccup is
    retried; a file that cannot be written or an image that is not right fails the job, which
    ``retry`` sends back here (a new download, no new charge) while upstream still serves the
    result. A worker lost mid-download leaves the job in ``downloading`` for the next claim.
    """
    try:
        saved = storage.publish(ctx.batch, download_all(rt.http, ctx.job, ctx.batch,
                                                        limits=DownloadLimits.from_settings(rt.settings),
                                                        renewal=_renewal(rt, ctx)))
    except errors.DownloadError as exc:
        gone = isinstance(exc, errors.DownloadFailed) and exc.kind == "refused"  # the file server said 4xx
        if exc.retryable:  # the hint rides along: the job fails with it once its attempts are spent
            return retry_or_fail(rt, ctx, errors.DownloadError(f"{exc}{_paid_hint(ctx)}", retryable=True))
        return leave(rt, ctx, S.FAILED, error=f"{exc}{_paid_hint(ctx, gone=gone)}")
    except OSError as exc:  # ours, not upstream's: disk full, a folder not writable, a rename refused
        return leave(rt, ctx, S.FAILED, error=f"cannot write the output: {exc}{_paid_hint(ctx)}")
    finished = _finish_with_files(rt, ctx, S.SUCCEEDED, saved, f"{len(saved)} file(s) verified", error=None)
    if finished and ctx.job.completed_at is not None:
        metrics.downloaded(rt.clock() - ctx.job.completed_at)
    return STOP


def _renewal(rt: Runtime, ctx: Ctx) -> Renewal:
    """Keeps the job's lease while its files download (renewed a third of a lease apart): no one
    else starts a second copy, and the download stops as soon as the lease has passed on."""
    def renew() -> bool:
        with transaction(rt.sessions) as session:
            return store.renew_lease(session, ctx.job.id, ctx.owner, rt.clock() + rt.settings.lease_seconds)
    return Renewal(renew, rt.settings.lease_seconds / 3)


def _paid_hint(ctx: Ctx, *, gone: bool = False) -> str:
    if gone:
        return (f" (the result was paid, but its file is no longer served: nanobatch retry {ctx.batch.id} "
                "--resubmit runs the job again, paid again)")
    return (f" (the result is paid and kept: nanobatch retry {ctx.batch.id} downloads it again without paying "
            "while upstream serves it)")


HANDLERS: dict[JobState, Handler] = {
    S.PENDING: submit,
    S.SUBMITTING: recover_submitting,
    S.QUEUED: poll,
    S.RUNNING: poll,
    S.FETCHING: fetch,
    S.DOWNLOADING: download,
}
