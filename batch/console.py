"""What a person sees: the live progress bar of ``run`` and the status summary."""

from __future__ import annotations

import time

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from batch import redis_server, service
from batch.batches import BatchStatus
from batch.local import LocalWorker
from batch.states import JobState

_console = Console(stderr=False)
ORDER = [s.value for s in JobState]


def _counts_text(status: BatchStatus) -> str:
    parts = [f"{state} {status.counts[state]}" for state in ORDER if status.counts.get(state)]
    return ", ".join(parts)


def run_with_progress(batch_id: int, *, concurrency: int = 8, refresh: float = 0.5) -> BatchStatus:
    """Start embedded workers, show a progress bar until the batch is done, stop them, summarise."""
    cfg = service.settings()
    started_redis = False
    redis_url = cfg.redis_url
    if redis_url is None:
        redis_url, started_redis = redis_server.ensure_redis(cfg.home)
    worker = LocalWorker(cfg, redis_url, concurrency=concurrency)
    _console.print(f"batch [bold]{batch_id}[/bold]: workers started (log: {worker.log_path})")
    try:
        status = _watch(batch_id, worker, refresh)
    except KeyboardInterrupt:
        _console.print(f"\ninterrupted: nothing is lost; continue with [bold]nanobatch resume {batch_id}[/bold]")
        raise SystemExit(130) from None
    finally:
        worker.stop()
        if started_redis:
            redis_server.stop_redis(cfg.home)
    print_status(status)
    return status


def _watch(batch_id: int, worker: LocalWorker, refresh: float) -> BatchStatus:
    status = service.status(batch_id)
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
               TextColumn("{task.fields[detail]}"))
    with Progress(*columns, console=_console, transient=False) as progress:
        task = progress.add_task(status.name, total=status.total, detail="")
        while True:
            status = service.status(batch_id)
            finished = status.total - sum(n for s, n in status.counts.items()
                                          if s not in ("succeeded", "failed", "cancelled", "cached"))
            progress.update(task, completed=finished, detail=_counts_text(status))
            if status.done or not worker.alive():
                break
            time.sleep(refresh)
    if not worker.alive() and not status.done:
        _console.print(f"[red]the worker stopped unexpectedly; see {worker.log_path}[/red]")
    return status


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
    _console.print(f"cost charged: ${status.cost:.2f}")
    if status.uncertain_submits:
        _console.print(f"[yellow]uncertain submits (possible duplicate charges): {status.uncertain_submits}[/yellow]")
    _console.print(f"files: {status.output_dir}")
