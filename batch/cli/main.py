"""The ``nanobatch`` command line: parses arguments and calls library functions, nothing more."""

from __future__ import annotations

import gc
import importlib
import sys
from types import ModuleType
from typing import TYPE_CHECKING, ClassVar, NoReturn

import click

from batch.cli.bars import work_bar
from batch.cli.exits import for_batch
from batch.cli.friendly import F, friendly_errors
from batch.cli.jsonout import echo_or_emit, emit, json_option
from batch.commands import service
from batch.core.cost import MAX_BUDGET_USD
from batch.errors import InputError, NanobatchError
from batch.store.db import dispose_engines

if TYPE_CHECKING:
    from batch.cli.prestart import Prestarted
    from batch.store.queries import BatchStatus


class LazyGroup(click.Group):
    """A group whose heavy subcommands (the simulator, with aiohttp) load only when asked for."""

    lazy: ClassVar[dict[str, str]] = {
        "simulate": "batch.simulator.cli:simulate",
        "review": "batch.cli.review:review",
        "export": "batch.cli.review:export",
        "serve": "batch.cli.review:serve",
        "prune": "batch.cli.deploy:prune",
        "worker": "batch.cli.deploy:worker",
        "beat": "batch.cli.deploy:beat",
        "schedules": "batch.cli.deploy:schedules",
        "doctor": "batch.cli.doctor:doctor",
        "pilot": "batch.cli.pilot:pilot",
    }

    def list_commands(self, ctx: click.Context) -> list[str]:
        """Every command, lazy ones included."""
        return sorted([*super().list_commands(ctx), *self.lazy])

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        """Import a lazy command on first use."""
        if cmd_name in self.lazy:
            module, attr = self.lazy[cmd_name].split(":")
            command: click.Command = getattr(importlib.import_module(module), attr)
            return command
        return super().get_command(ctx, cmd_name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """Every command on one line, grouped (running, operating, reporting, scheduling, simulator)."""
        from batch.cli.overview import format_commands

        format_commands(self.list_commands(ctx), lambda name: self.get_command(ctx, name), formatter)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="nanobatch")
def main() -> None:
    """nanobatch: run thousands of Nano Banana Pro image edits, crash-safe and frugal.

    Configuration comes from the environment: RUNCOMFY_API_TOKEN (or RUNCOMFY_API_TOKEN_FILE),
    RUNCOMFY_API_BASE, NANOBATCH_HOME (default ./.nanobatch), NANOBATCH_DATABASE_URL,
    NANOBATCH_REDIS_URL.
    """


def entry() -> None:
    """The ``nanobatch`` process (``python -m batch`` too): ``main``, then a quick exit.

    Python's exit collects the garbage of every object loaded, about 50 ms once SQLAlchemy is
    (a tenth of a ``status``), for a process about to end. So the database connections are closed
    now and the objects frozen out of those last collections; objects outside reference cycles
    are still finalized as usual. Not in ``main``: tests invoke that within their own process.
    """
    try:
        main()
    finally:
        dispose_engines()
        gc.freeze()


@main.command()
@click.argument("manifest", type=click.Path(dir_okay=False))
@json_option()
@friendly_errors
def validate(manifest: str, as_json: bool) -> None:
    """Check MANIFEST and print how many jobs it expands to (every problem at once, at file:line).

    Also creates the output folder and checks that files can be written there; writes nothing else.
    """
    if as_json:
        from batch.cli.scripting import validate_json

        validate_json(manifest)
        return
    loaded = service.validate(manifest)
    for warning in loaded.warnings:
        click.echo(f"warning: {warning}", err=True)
    click.echo(f"{manifest}: ok, {len(loaded.jobs)} jobs in batch {loaded.name!r}")


def _warn(message: str) -> None:
    """A warning on stderr: the batch goes on."""
    click.echo(f"warning: {message}", err=True)


def submit_options(func: F) -> F:
    """The options shared by ``submit`` and ``run``."""
    options = [
        click.option("--name", help="Batch name (default: the manifest's name)."),
        click.option("--force", is_flag=True, help="Do not reuse earlier identical results: call the API for all."),
        click.option("--check-inputs", is_flag=True,
                     help="HEAD every input URL: one that cannot be fetched fails its job unpaid; an image "
                          "replaced at the same URL is edited again."),
        click.option("--budget", type=click.FloatRange(min=0, max=MAX_BUDGET_USD),
                     help="Dollars; overrides the manifest's budget_usd."),
        click.option("--dry-run", is_flag=True,
                     help="Print jobs to run, jobs cached and the estimated cost against the budget; write nothing."),
        click.option("--pilot", "pilot", type=click.IntRange(min=1), metavar="N",
                     help="Run a sample of N items x styles first; the rest waits for `nanobatch pilot approve`."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def progress_options(func: F) -> F:
    """``--quiet`` and ``--no-progress``, shared by ``run`` and ``resume``."""
    func = click.option("--no-progress", is_flag=True,
                        help="No bar nor progress lines; the summary still prints.")(func)
    return click.option("--quiet", "-q", is_flag=True,
                        help="Print nothing but errors (the exit code says how it ended).")(func)


@main.command()
@click.argument("manifest", type=click.Path(dir_okay=False))
@submit_options
@click.option("--json", "as_json", is_flag=True, help='Print {"batch_id", "jobs"} as JSON.')
@friendly_errors
def submit(manifest: str, name: str | None, force: bool, check_inputs: bool, budget: float | None,
           dry_run: bool, pilot: int | None, as_json: bool) -> None:
    """Validate MANIFEST and store it as a new batch for the workers; prints the batch id."""
    if dry_run:
        _print_dry_run(manifest, force=force, check_inputs=check_inputs, budget=budget, as_json=as_json, pilot=pilot)
        return
    batch_id, jobs = _store(manifest, name=name, force=force, check_inputs=check_inputs, budget=budget,
                          pilot=pilot)
    if as_json:
        emit({"batch_id": batch_id, "jobs": jobs})
    else:
        click.echo(batch_id)


@main.command()
@click.argument("manifest", type=click.Path(dir_okay=False))
@submit_options
@click.option("--concurrency", default=8, show_default=True, help="Worker threads.")
@progress_options
@friendly_errors
def run(manifest: str, name: str | None, force: bool, check_inputs: bool, budget: float | None,
        dry_run: bool, pilot: int | None, concurrency: int, quiet: bool, no_progress: bool) -> None:
    """Submit MANIFEST, run it with embedded workers and a progress bar, then summarise.

    Exits 0 when every job succeeded, 1 when some failed, 3 at a budget stop, 4 when the batch waits
    for a person: a pause, held jobs, or its pilot's approval (README, "Exit codes"; the line printed
    says how to go on). Not on a terminal, a plain line every 10% or 60 s replaces the bar.
    """
    from batch.cli import console

    if dry_run:
        _print_dry_run(manifest, force=force, check_inputs=check_inputs, budget=budget, as_json=False, pilot=pilot)
        return
    worker = _prestart()  # its imports overlap the submit; it becomes the worker, or exits unused
    try:
        batch_id, _ = _store(manifest, name=name, force=force, check_inputs=check_inputs, budget=budget,
                              pilot=pilot)
        _exit_after_run(console.run_with_progress(batch_id, concurrency=concurrency,
                                                  view=console.view_for(quiet, no_progress), prestarted=worker))
    finally:
        if worker is not None:
            worker.cancel()


def _prestart() -> Prestarted | None:
    """A worker process importing what it needs while ``run`` stores the batch (``batch.cli.prestart``);
    None where the home is not usable yet (the submit says why) or no process can be started."""
    from pathlib import Path

    from batch.cli.prestart import Prestarted
    from batch.config import private_dir, private_file

    try:
        home = service.settings().home
        private_dir(home)
        return Prestarted(private_file(home / "worker.log"), Path.cwd())
    except (NanobatchError, OSError):
        return None


def _store(manifest: str, *, name: str | None, force: bool, check_inputs: bool,
           budget: float | None, pilot: int | None) -> tuple[int, int]:
    """Store the manifest as a batch (``submit`` and ``run``), with a bar while cached jobs are reused."""
    from batch.commands.batches import SubmitOptions

    options = SubmitOptions(force=force, budget_usd=budget, pilot=pilot)
    with work_bar("reusing cached results") as progress:
        return service.submit(manifest, name=name, options=options, check_inputs=check_inputs,
                              warn=_warn, on_progress=progress)


def _exit_after_run(status: BatchStatus) -> NoReturn:
    """Exit with the code of how the batch ended (README, "Exit codes"), saying why when it is paused or
    waits for its pilot's approval."""
    if status.pilot_waiting and not status.paused:
        from batch.cli.console import pilot_next

        click.echo(f"batch {status.batch_id}: {status.pilot}. {pilot_next(status.batch_id)}", err=True)
    if status.paused:
        click.echo(f"error: batch {status.batch_id} paused: {status.paused}; "
                   f"then continue with: nanobatch resume {status.batch_id}", err=True)
    sys.exit(for_batch(status))


def _print_dry_run(manifest: str, *, force: bool, check_inputs: bool, budget: float | None, as_json: bool,
                   pilot: int | None) -> None:
    """``submit --dry-run`` and ``run --dry-run``: the plan, with the budget it would run under."""
    plan = service.dry_run(manifest, force=force, check_inputs=check_inputs, budget_usd=budget, pilot=pilot)
    echo_or_emit(as_json, plan.as_json, plan.lines)


@main.command()
@click.argument("batch_id", metavar="BATCH", type=int)
@click.option("--budget", type=click.FloatRange(min=0, max=MAX_BUDGET_USD),
              help="A new budget in dollars (after a budget stop).")
@click.option("--detach", is_flag=True, help="Only make the batch runnable; leave the running to other workers.")
@click.option("--concurrency", default=8, show_default=True, help="Worker threads.")
@progress_options
@json_option('Print {"batch_id", "released", "status"} as JSON (status: as `status --json`; null with --detach).')
@friendly_errors
def resume(batch_id: int, budget: float | None, detach: bool, concurrency: int, quiet: bool, no_progress: bool,
           as_json: bool) -> None:
    """Continue BATCH after its workers died or its budget stopped it; safe to run twice.

    Exits as `run` does (README, "Exit codes"): 4 while the rest waits for a pilot's approval; 0 with --detach.
    """
    from batch.cli import console
    from batch.commands import operations

    service.require_batch(batch_id)
    released = operations.resume(service.runtime(), batch_id, budget_usd=budget)
    if released and not (as_json or quiet):
        click.echo(f"{released} parked jobs released")
    if detach:
        if as_json:
            emit({"batch_id": batch_id, "released": released, "status": None})
        return
    status = console.run_with_progress(batch_id, concurrency=concurrency,
                                       view=console.view_for(quiet or as_json, no_progress))
    if as_json:
        emit({"batch_id": batch_id, "released": released, "status": status.as_json()})
    _exit_after_run(status)


@main.command()
@click.argument("batch_id", metavar="BATCH", type=int)
@click.option("--failed", is_flag=True, help="Every failed job (the default when no filter is given).")
@click.option("--error", "error_text", help="Only failed jobs whose error contains TEXT.")
@click.option("--cancelled", is_flag=True, help="Also jobs that were cancelled.")
@click.option("--held", is_flag=True, help="Also jobs held after an uncertain submit (may pay twice).")
@click.option("--rejected", is_flag=True, help="Instead: a new job for each rejected output (the old one is kept).")
@click.option("--prompt-append", help="With --rejected: text added to the prompts of the new jobs.")
@click.option("--yes", is_flag=True, help="With --rejected: do not ask before queuing (the cost is printed).")
@click.option("--resubmit", is_flag=True,
              help="Submit again even jobs whose paid result could not be saved (pays for them again).")
@json_option()
@friendly_errors
def retry(batch_id: int, failed: bool, error_text: str | None, cancelled: bool, held: bool, rejected: bool,
          prompt_append: str | None, yes: bool, resubmit: bool, as_json: bool) -> None:
    """Put failed jobs of BATCH back in the queue; earlier errors stay in each job's history.

    A job whose result was paid but whose files could not be saved downloads them again (no new
    charge) unless --resubmit is given."""
    from batch.commands import operations

    if rejected:
        from batch.cli.review import retry_rejected

        retry_rejected(batch_id, prompt_append, yes, as_json)
        return
    if prompt_append:
        raise InputError("--prompt-append goes with --rejected")

    service.require_batch(batch_id)
    report = operations.retry(service.runtime(), batch_id, error_contains=error_text, cancelled=cancelled,
                              held=held, resubmit=resubmit)
    echo_or_emit(as_json, report.as_json, report.lines)


@main.command()
@click.argument("batch_id", metavar="BATCH", type=int)
@json_option()
@friendly_errors
def cancel(batch_id: int, as_json: bool) -> None:
    """Stop BATCH: no new submits, cancel jobs still queued upstream, let running ones finish (billed)."""
    from batch.commands import operations

    service.require_batch(batch_id)
    report = operations.cancel(service.runtime(), batch_id)
    echo_or_emit(as_json, lambda: {"batch_id": batch_id, **report.as_json()}, report.lines)


@main.command()
@click.argument("batch_id", metavar="[BATCH]", type=int, required=False)
@click.option("--json", "as_json", is_flag=True, help="Print the counts as JSON (with no BATCH: a list of batches).")
@click.option("--watch", is_flag=True, help="Follow BATCH (default: the newest) live until no job is active.")
@click.option("--interval", default=1.0, show_default=True, type=click.FloatRange(min=0.05),
              help="Seconds between refreshes with --watch.")
@click.option("--limit", default=20, show_default=True, type=click.IntRange(min=1), help="Batches to list.")
@friendly_errors
def status(batch_id: int | None, as_json: bool, watch: bool, interval: float, limit: int) -> None:
    """Show BATCH's progress by state; with no BATCH, list the recent batches.

    --watch shows a live bar with counts, rate and ETA; Ctrl-C stops watching (the batch carries on).
    """
    if watch:
        if as_json:
            raise InputError("--watch and --json do not mix")
        _console().watch_status(service.status(batch_id).batch_id, interval=interval)
        return
    if batch_id is None:
        from batch.store.queries import list_batches

        factory = service.reading_sessions()
        summaries = list_batches(factory, limit=limit) if factory is not None else []
        if as_json:
            emit([s.as_json() for s in summaries])
        if not summaries:
            click.echo(f"no batches in {service.where()}: submit a manifest first", err=as_json)
        elif not as_json:
            _console().print_batch_list(summaries)
        return
    current = service.status(batch_id)
    if as_json:
        emit(current.as_json())
    else:
        _console().print_status(current)


def _console() -> ModuleType:
    """The rich-based printing module, imported only when a person reads the output (JSON stays quick)."""
    from batch.cli import console

    return console


@main.command()
@click.argument("batch_id", metavar="BATCH", type=int)
@click.option("--format", "fmt", type=click.Choice(["csv", "json", "html"]),
              help="Report format (default: from the extension of PATH).")
@click.option("-o", "--output", "path", type=click.Path(dir_okay=False),
              help="Where to write the report (default: report-BATCH.FORMAT, html unless --format); "
                   "- writes it to stdout (JSON unless --format).")
@friendly_errors
def report(batch_id: int, fmt: str | None, path: str | None) -> None:
    """Write a report of BATCH: one row per job as CSV or JSON, or a self-contained HTML page."""
    from batch.reports.writer import write_report

    if path == "-":
        from batch.cli.scripting import report_to_stdout

        report_to_stdout(batch_id, fmt)
        return
    written = write_report(service.require_batch(batch_id), batch_id, path or f"report-{batch_id}.{fmt or 'html'}", fmt)
    click.echo(str(written))


if __name__ == "__main__":  # pragma: no cover
    main()



