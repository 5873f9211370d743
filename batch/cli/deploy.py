"""The commands of a deployment and its upkeep: ``worker``, ``beat``, ``schedules`` and ``prune``
(loaded only when asked for)."""

from __future__ import annotations

import click

from batch.cli.friendly import friendly_errors
from batch.cli.jsonout import emit, json_option
from batch.cli.main import progress_options
from batch.commands import service


@click.command()
@click.option("--older-than", "older_than", required=True, metavar="AGE",
              help="Batches created (and whose jobs all ended) more than AGE ago: 90d, 12w, 36h, 30min, 45s "
                   "(no 'm': minutes or months?).")
@click.option("--files", is_flag=True, help="Also delete their output files (not those a kept batch records) "
                                            "and the folders that leaves empty.")
@click.option("--yes", is_flag=True, help="Do not ask before deleting (what goes is printed all the same).")
@json_option("Print the cutoff, the batches and what was deleted as JSON (needs --yes).")
@friendly_errors
def prune(older_than: str, files: bool, yes: bool, as_json: bool) -> None:
    """Delete the rows of old batches whose every job has ended (jobs, events, outputs, notifications).

    Prints the cutoff date and the batches that will go before asking. Files stay unless --files.
    Running batches are never pruned.
    """
    from batch.cli.pruning import prune_command

    prune_command(older_than, files=files, yes=yes, as_json=as_json)


@click.command(context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
@click.option("--concurrency", default=8, show_default=True, help="Worker threads.")
@click.option("--beat/--no-beat", default=True,
              help="Keep a beat here (tick, schedules, notifications), sending while no other beat does.  "
                   "[default: --beat]")
@click.option("--metrics-port", type=click.IntRange(1, 65535), default=None, envvar="NANOBATCH_METRICS_PORT",
              help="Serve Prometheus metrics on this port (loopback; NANOBATCH_METRICS_ADDRESS to change).")
@click.pass_context
@friendly_errors
def worker(ctx: click.Context, concurrency: int, beat: bool, metrics_port: int | None) -> None:
    """Run a Celery worker with nanobatch's configuration (extra arguments go to celery).

    It keeps a beat process: one beat per broker sends the tick (it holds a lease in Redis), the
    others stand by and take over within two tick intervals of its loss. `nanobatch submit` then
    `nanobatch worker` finishes a batch.
    """
    import os

    from batch.cli.local import beat_alive, worker_command
    from batch.logjson import log_format, say

    token = service.settings().check_api()  # exit 2 now, not a traceback per task in the worker's log
    log_format(os.environ)  # and a bad log format now, before anything starts
    if beat:
        said = ("worker: a beat is alive elsewhere; this worker's beat stands by and takes over if it stops"
                if beat_alive(service.settings()) else
                "worker: no beat is alive, so this worker runs one (the tick, schedules and notifications); "
                "--no-beat leaves that to `nanobatch beat`")
        say(os.environ, "nanobatch.worker", said, [token])
    cmd = worker_command(concurrency=concurrency, beat=beat) + list(ctx.args)

    if metrics_port is not None:
        os.environ["NANOBATCH_METRICS_PORT"] = str(metrics_port)  # read by the worker (workers.app)

    os.execv(cmd[0], cmd)


@click.command(context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
@click.pass_context
def beat(ctx: click.Context) -> None:
    """Run THE beat of a deployment (exactly one): the tick, the schedules and batch-end notifications.

    The same as ``celery -A workers beat``; extra arguments go to celery. Schedules come from the
    file named by NANOBATCH_SCHEDULES (set it on the workers: they run the fire task).
    """
    import os

    from batch.commands.schedules import beat_command

    cmd = beat_command(list(ctx.args))
    os.execv(cmd[0], cmd)


@click.group()
def schedules() -> None:
    """Cron schedules in a YAML file (--file, default $NANOBATCH_SCHEDULES), fired by the beat."""


@schedules.command("list")
@click.option("--file", "path", type=click.Path(dir_okay=False), help="Schedules file (default: $NANOBATCH_SCHEDULES).")
@json_option()
@friendly_errors
def schedules_list(path: str | None, as_json: bool) -> None:
    """Show each schedule's cron, time zone, next 3 fire times and last run."""
    from batch.commands import schedules as schedule_commands

    listed = schedule_commands.list_file(path, as_json=as_json)
    if as_json:
        emit(listed)
    else:
        click.echo(listed)


@schedules.command("run")
@click.argument("name")
@click.option("--file", "path", type=click.Path(dir_okay=False), help="Schedules file (default: $NANOBATCH_SCHEDULES).")
@click.option("--wait", is_flag=True, help="Run the batch here, in the foreground, as `nanobatch run` does.")
@progress_options
@json_option()
@friendly_errors
def schedules_run(name: str, path: str | None, wait: bool, quiet: bool, no_progress: bool, as_json: bool) -> None:
    """Fire schedule NAME now, whatever its overlap policy; prints the new batch's id (only).

    Says on stderr who will run it: the workers if a beat is alive, else the command to start one.
    With --wait, runs it here and exits as `run` does (README, "Exit codes").
    """
    from batch.cli.scheduling import run_schedule

    run_schedule(name, path, wait=wait, view_flags=(quiet, no_progress), as_json=as_json)
