"""What a person sees: the live progress bar of ``run`` and the status summary."""

from __future__ import annotations

import signal
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from types import FrameType
from typing import TYPE_CHECKING

from rich.console import Console
from rich.table import Table

from batch.cli.exits import Exit
from batch.cli.plainlines import PlainLines
from batch.commands import service
from batch.core.progress import Estimate, RateTracker, format_eta, format_rate
from batch.core.states import ACTIVE, TERMINAL, JobState
from batch.store.queries import BatchStatus, BatchSummary

if TYPE_CHECKING:  # the worker, embedded-Redis and progress-bar code load only when used, keeping status quick
    from rich.progress import Progress, TaskID

    from batch.cli.local import Broker, LocalWorker
    from batch.cli.prestart import Prestarted
    from batch.config import Settings
    from batch.embedded.health import Reachability

_console = Console(stderr=False)
_errors = Console(stderr=True)
ORDER = [s.value for s in JobState]


def _counts_text(status: BatchStatus) -> str:
    parts = [f"{state} {status.counts[state]}" for state in ORDER if status.counts.get(state)]
    return ", ".join(parts)


def _finished(status: BatchStatus) -> int:
    return sum(n for s, n in status.counts.items() if JobState(s) in TERMINAL)


def _active(status: BatchStatus) -> int:
    return sum(n for s, n in status.counts.items() if JobState(s) in ACTIVE)


def _progress(*, auto_refresh: bool = True) -> Progress:
    """A batch's progress bar: counts, rate, ETA."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    TextColumn("{task.fields[speed]} ETA {task.fields[eta]}"), TextColumn("{task.fields[detail]}"),
                    console=_console, transient=False, auto_refresh=auto_refresh)


def _show(progress: Progress, task: TaskID, status: BatchStatus, tracker: RateTracker, now: float,
          warnings: list[str] | None = None) -> None:
    _update(progress, task, status, tracker.observe(_finished(status), now, status.total), warnings)


def _update(progress: Progress, task: TaskID, status: BatchStatus, est: Estimate,
            warnings: list[str] | None = None) -> None:
    detail = _counts_text(status)
    if warnings:
        detail += "  [red]" + "; ".join(warnings) + "[/red]"
    progress.update(task, total=status.total, completed=est.finished, speed=format_rate(est.rate),
                    eta=format_eta(est.eta), detail=detail)


class Terminated(Exception):
    """``run`` received SIGTERM: it stops its workers and leaves, as on Ctrl-C."""


def raise_terminated(_signum: int, _frame: FrameType | None) -> None:
    """A SIGTERM handler: raise ``Terminated``, so that what was started is stopped on the way out."""
    raise Terminated


def _interruptible() -> signal.Handlers | Callable[[int, FrameType | None], object] | int | None:
    """Ctrl-C raises KeyboardInterrupt from now on, even in a process started with SIGINT ignored
    (a shell's background job, some CI runners); the handler it replaces is returned."""
    return signal.signal(signal.SIGINT, signal.default_int_handler)


BAR, LINES, SUMMARY, QUIET = "bar", "lines", "summary", "quiet"  # what run/resume print while they wait


def view_for(quiet: bool, no_progress: bool) -> str:
    """``QUIET`` (errors only), ``SUMMARY`` (no progress, the summary at the end), else a bar on a
    terminal and plain lines elsewhere (a log file, a pipe)."""
    if quiet:
        return QUIET
    if no_progress:
        return SUMMARY
    return BAR if _console.is_terminal else LINES


def run_with_progress(batch_id: int, *, concurrency: int = 8, refresh: float = 0.5, view: str = BAR,
                      prestarted: Prestarted | None = None) -> BatchStatus:
    """Start embedded workers, show progress (``view``) until the batch is done, stop them, summarise.

    Ctrl-C exits 130 and SIGTERM 143, both after stopping the workers. With the embedded Redis,
    this process and its worker are registered as its users for as long as they run. ``prestarted``:
    a process already importing what the worker needs (``batch.cli.prestart``), used as the worker.
    """
    from batch.cli.local import broker

    cfg = service.settings()
    previous = signal.signal(signal.SIGTERM, raise_terminated)
    interrupt = _interruptible()
    try:
        status = _settled_already(batch_id, view)
        if status is not None and prestarted is not None:
            prestarted.cancel()  # no worker needed: it stops importing
        if status is None:
            with broker(cfg) as redis:  # the last user of the embedded server waits for it to stop
                status = _run_workers(batch_id, cfg, redis, concurrency=concurrency, refresh=refresh, view=view,
                                      prestarted=prestarted)
    except (KeyboardInterrupt, Terminated) as exc:
        why = "interrupted" if isinstance(exc, KeyboardInterrupt) else "terminated"
        _errors.print(f"\n{why}: nothing is lost; continue with [bold]nanobatch resume {batch_id}[/bold]")
        raise SystemExit(Exit.INTERRUPTED if isinstance(exc, KeyboardInterrupt) else Exit.TERMINATED) from None
    finally:
        signal.signal(signal.SIGTERM, previous)
        signal.signal(signal.SIGINT, interrupt)
    if view != QUIET:
        print_status(status)
    return status


def _settled_already(batch_id: int, view: str) -> BatchStatus | None:
    """The batch's status when nothing of it can move (every job cached at submit, or waiting for a
    person), after the notification pass; None when it needs workers.

    Then no broker and no worker are started: they would only start, find nothing due and stop.
    """
    if not service.status(batch_id).settled:
        return None
    _notify(view)  # the batch's end; a pilot's gate, if one were due, would release jobs here
    status = service.status(batch_id)
    if not status.settled:
        return None
    if view != QUIET:
        _console.print(f"batch [bold]{batch_id}[/bold]: nothing to run (no job is due); no workers started")
    return status


def _run_workers(batch_id: int, cfg: Settings, redis: Broker, *, concurrency: int, refresh: float, view: str,
                 prestarted: Prestarted | None) -> BatchStatus:
    """The worker and the broker watch around the progress display; both stopped however it ends."""
    from batch.embedded.health import Reachability, Watch, broker_check, embedded_revival, safe_url

    worker = redis.worker(cfg, {batch_id}, concurrency=concurrency, prestarted=prestarted)
    reach = Reachability()
    broker = f"broker ({safe_url(redis.url)})"
    watch = Watch({broker: broker_check(redis.url)}, reach,
                  revive={broker: embedded_revival(redis.home)} if redis.home is not None else None)
    try:
        watch.start()
        if view != QUIET:
            _console.print(f"batch [bold]{batch_id}[/bold]: workers started (log: {worker.log_path})")
        status = _watch(batch_id, worker, refresh, reach, view)
        _notify(view)  # the end, or why it stopped (budget, pause) when the manifest asks for that
    finally:
        watch.stop()
        worker.stop()
    return status


def _notify(view: str) -> None:
    """The notification pass, before the workers (and their beat, which runs it too) stop.

    Without it a batch run here would be announced only by some later beat, if any ever ran.
    """
    from sqlalchemy.exc import DBAPIError

    from batch.engine import notify

    try:
        sent = notify.notify_finished(service.sessions(), time.time())
    except DBAPIError:  # the database is away: the beat's next pass sends them
        _console.print("notifications: the database does not answer; the next beat sends them")
        return
    if sent and view != QUIET:
        _console.print(f"notifications sent: {sent}")


def _read_status(batch_id: int, last: BatchStatus, reach: Reachability) -> BatchStatus:
    """The batch's status, or the last one known while the database does not answer (noted in ``reach``)."""
    from sqlalchemy.exc import DBAPIError

    name = f"database ({service.where()})"
    try:
        status = service.status(batch_id)
    except DBAPIError:
        reach.failed(name)
        return last
    reach.ok(name)
    return status


def _watch(batch_id: int, worker: LocalWorker, refresh: float, reach: Reachability, view: str) -> BatchStatus:
    status = service.status(batch_id)
    tracker = RateTracker(status.total)
    with _display(view, status) as show:
        while True:
            status = _read_status(batch_id, status, reach)
            outages = [(f"{name}@{since}", reach.describe(name, since)) for name, since in reach.down()]
            kept = worker.check()  # a worker that died is replaced (a few times), its beat by the worker
            outages += [(notice, notice) for notice in worker.notices()]  # each names a pid: said once
            show(status, tracker.observe(_finished(status), time.monotonic(), status.total), outages,
                 reach.warnings(), False)
            if status.settled or status.paused or not kept:
                break
            time.sleep(refresh)
        show(status, tracker.observe(_finished(status), time.monotonic(), status.total), [], [], True)
    if not kept and not status.settled:
        _errors.print(f"[red]the worker stopped unexpectedly too often; giving up (see {worker.log_path})[/red]")
    return status


Show = Callable[[BatchStatus, Estimate, list[tuple[str, str]], list[str], bool], None]


@contextmanager
def _display(view: str, status: BatchStatus) -> Iterator[Show]:
    """``show(status, estimate, outages, warnings, final)`` for the chosen view: a bar, plain lines or nothing.

    An outage is said once, on a line of its own; the warnings (still down) ride along with the bar.
    """
    if view == LINES:
        lines = PlainLines(lambda text: _console.print(text, markup=False, highlight=False))

        def line(current: BatchStatus, est: Estimate, outages: list[tuple[str, str]], _: list[str],
                 final: bool) -> None:
            for key, text in outages:
                lines.note(key, f"warning: {text}")
            lines.observe(time.monotonic(), est, _counts_text(current), current.cost, final=final)

        yield line
        return
    if view != BAR:
        yield lambda *_: None
        return
    said: set[str] = set()
    with _progress() as progress:
        task = progress.add_task(status.name, total=status.total, detail="", speed="-", eta="-")

        def bar(current: BatchStatus, est: Estimate, outages: list[tuple[str, str]], warnings: list[str],
                _: bool) -> None:
            for key, text in outages:
                if key not in said:  # once per outage, on a line of its own
                    said.add(key)
                    progress.console.print(f"[yellow]warning: {text}[/yellow]")
            _update(progress, task, current, est, warnings)

        yield bar
def pilot_next(batch_id: int) -> str:
    """The one line that says how to go on from a pilot waiting for approval."""
    return (f"Look at it (nanobatch serve), then: nanobatch pilot approve {batch_id} "
            f"[--variant STYLE=NAME] or nanobatch pilot reject {batch_id}")


def print_status(status: BatchStatus) -> None:
    """A table of the batch's counts by state, with cost and where the files are."""
    table = Table(title=f"batch {status.batch_id}: {status.name}", show_header=True)
    table.add_column("state")
    table.add_column("jobs", justify="right")
    for state in ORDER:
        if status.counts.get(state):
            table.add_row(state, str(status.counts[state]))
    table.add_row("[bold]total[/bold]", f"[bold]{status.total}[/bold]")
    _console.print(table)
    for line in [*_money_lines(status), *_waiting_lines(status)]:
        _console.print(line)
    _console.print(f"files: {status.output_dir}")


def _money_lines(status: BatchStatus) -> list[str]:
    """What was charged, reviewed, and what waits instead of paying (``print_status``)."""
    lines = [f"cost charged: ${status.cost:.2f}"]
    if status.odd_costs:
        lines.append(f"[yellow]odd costs: {status.odd_costs} jobs were answered a cost that is no amount of money "
                     f"(kept as given, not in the cost above): see [bold]nanobatch report {status.batch_id}"
                     "[/bold][/yellow]")
    if status.reviews and any(status.reviews.values()):
        lines.append(f"reviewed: {status.reviews.get('approved', 0)} approved, "
                     f"{status.reviews.get('rejected', 0)} rejected")
    if status.waiting:
        lines.append(f"waiting for an identical job under way (its files are copied, not paid twice): {status.waiting}")
    if status.uncertain_submits:
        lines.append(f"[yellow]uncertain submits (possible duplicate charges): {status.uncertain_submits}[/yellow]")
    return lines


def _waiting_lines(status: BatchStatus) -> list[str]:
    """Why jobs wait (a pause, a pilot, a budget), what failed or is held, each with the command that
    goes on; where the pilot is (``print_status``)."""
    lines, batch = [], status.batch_id
    left = status.counts.get(JobState.PARKED.value, 0)
    if status.paused:
        lines.append(f"[yellow]paused: {status.paused}; {left} jobs parked, none failed by it. Once fixed, "
                     f"continue with [bold]nanobatch resume {batch}[/bold][/yellow]")
    elif status.pilot_waiting:
        lines.append(f"[yellow]{status.pilot}; {left} jobs wait unpaid. {pilot_next(batch)}[/yellow]")
    elif status.parked:
        lines.append(f"[yellow]stopped: {status.parked}; {left} jobs parked. Continue with "
                     f"[bold]nanobatch resume {batch} --budget <dollars>[/bold][/yellow]")
    if status.pilot and not status.pilot_waiting:
        lines.append(status.pilot)
    if status.counts.get("failed"):
        lines.append(f"[red]{status.counts['failed']} jobs failed[/red]: see why with [bold]nanobatch report "
                     f"{batch}[/bold], queue them again with [bold]nanobatch retry {batch}[/bold]")
    if status.counts.get("held"):
        lines.append(f"[yellow]{status.counts['held']} jobs held after an uncertain submit: "
                     f"[bold]nanobatch retry {batch} --held[/bold] resubmits them[/yellow]")
    return lines


def watch_status(batch_id: int, *, interval: float = 1.0,
                 fetch: Callable[[int], BatchStatus] = service.status,
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> BatchStatus:
    """A live bar of the batch (counts by state, rate, ETA), refreshed every ``interval`` seconds.

    Returns when no job is active any more (held and parked jobs wait for a person and do not keep
    it open), or on Ctrl-C, which stops watching only: the batch carries on.
    """
    status = fetch(batch_id)
    tracker = RateTracker(status.total)
    progress = _progress(auto_refresh=False)
    task = progress.add_task(status.name, total=status.total, detail="", speed="-", eta="-")
    _show(progress, task, status, tracker, clock())
    interrupt = _interruptible()
    try:
        with progress:
            while _active(status):
                sleep(interval)
                status = fetch(batch_id)
                _show(progress, task, status, tracker, clock())
                progress.refresh()
    except KeyboardInterrupt:
        _console.print("stopped watching; the batch carries on")
        return status
    finally:
        signal.signal(signal.SIGINT, interrupt)
    held = status.counts.get(JobState.HELD.value, 0)
    if held:
        _console.print(f"[yellow]{held} job(s) held for a person to decide (uncertain submits)[/yellow]")
    if status.pilot_waiting:
        _console.print(f"[yellow]{status.pilot}. {pilot_next(batch_id)}[/yellow]")
    elif status.parked:
        _console.print(f"[yellow]{status.counts.get(JobState.PARKED.value, 0)} job(s) parked: {status.parked}; "
                       f"[bold]nanobatch resume {batch_id} --budget <dollars>[/bold] continues[/yellow]")
    return status


def print_batch_list(summaries: list[BatchSummary]) -> None:
    """A table of recent batches: id, name, created, total, done, succeeded, failed, cost."""
    if not summaries:
        _console.print("no batches yet: submit a manifest first")
        return
    table = Table(title="recent batches", show_header=True)
    for name in ("id", "name", "created", "total", "done", "succeeded", "failed", "cost"):
        table.add_column(name, justify="left" if name in ("name", "created") else "right")
    for s in summaries:
        created = datetime.fromtimestamp(s.created_at).strftime("%Y-%m-%d %H:%M")
        failed = f"[red]{s.failed}[/red]" if s.failed else "0"
        table.add_row(str(s.batch_id), s.name, created, str(s.total), str(s.done), str(s.succeeded), failed,
                      f"${s.cost:.2f}")
    _console.print(table)
