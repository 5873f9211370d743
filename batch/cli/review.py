"""The ``review``, ``export`` and ``serve`` commands, and ``retry --rejected`` (loaded only when asked for)."""

from __future__ import annotations

import time
from pathlib import Path

import click

from batch.cli.friendly import friendly_errors
from batch.cli.jsonout import echo_or_emit, emit, json_option
from batch.commands import service
from batch.errors import InputError
from batch.store.reviews import APPROVED, REJECTED


@click.group()
def review() -> None:
    """Approve or reject a batch's outputs, and list the decisions (the latest one counts)."""


@review.command("list")
@click.argument("batch_id", metavar="BATCH", type=int)
@click.option("--only", type=click.Choice([APPROVED, REJECTED, "unreviewed"]), help="Only jobs with this decision.")
@json_option("Print a JSON list (schema: docs/json.md).")
@friendly_errors
def review_list(batch_id: int, only: str | None, as_json: bool) -> None:
    """List BATCH's jobs that have files, with their current decision, who made it and when."""
    from batch.commands.review import list_reviews

    lines = list_reviews(service.sessions(), batch_id, only)
    if as_json:
        emit([line.as_json() for line in lines])
        return
    for line in lines:
        click.echo(line.render())


def _decide(decision: str, batch_id: int, jobs: tuple[str, ...], note: str | None, every: bool) -> None:
    from batch.commands.review import decide

    count = decide(service.sessions(), batch_id, list(jobs), decision, now=time.time(), note=note,
                   every_unreviewed=every)
    click.echo(f"{count} jobs {decision}")


def _decision_command(decision: str, verb: str) -> click.Command:
    @click.argument("batch_id", metavar="BATCH", type=int)
    @click.argument("jobs", metavar="[JOB]...", nargs=-1)
    @click.option("--note", help="Why (kept with the decision).")
    @click.option("--all", "every", is_flag=True, help="Every job with files that has no decision yet.")
    @friendly_errors
    def command(batch_id: int, jobs: tuple[str, ...], note: str | None, every: bool) -> None:
        _decide(decision, batch_id, jobs, note, every)

    command.__doc__ = f"{verb} JOBs of BATCH (by id), or with --all every job not yet reviewed."
    return click.command(verb.lower())(command)


review.add_command(_decision_command(APPROVED, "Approve"))
review.add_command(_decision_command(REJECTED, "Reject"))


def retry_rejected(batch_id: int, prompt_append: str | None, yes: bool, as_json: bool = False) -> None:
    """``retry --rejected``: show what rerunning the rejected jobs costs, confirm, make the new jobs.

    Under ``--json`` nothing is asked: ``--yes`` is needed (a script cannot answer).
    """
    from batch.commands.rerun import plan, rerun
    from batch.core.cost import PriceTable

    if as_json and not yes:
        raise InputError("--json with --rejected needs --yes (nothing can be asked)")
    cfg = service.settings()
    planned = plan(service.sessions(), PriceTable(cfg.price_1k_2k, cfg.price_4k), batch_id, prompt_append)
    if not as_json:
        click.echo(planned.line())
    if planned.keys and not yes:
        click.confirm("Run them again?", abort=True)
    made = rerun(service.sessions(), batch_id, now=time.time(), prompt_append=prompt_append) if planned.keys else []
    if as_json:
        emit({"batch_id": batch_id, "rejected": planned.keys, "estimated_cost_usd": planned.cost_usd,
              "queued": len(made)})
    elif made:
        click.echo(f"{len(made)} new jobs queued; run them here with: nanobatch resume {batch_id}")


@click.command()
@click.argument("batch_id", metavar="BATCH", type=int)
@click.argument("dest", type=click.Path(file_okay=False))
@click.option("--approved", is_flag=True, required=True, help="Export the approved outputs (required).")
@click.option("--overwrite", is_flag=True, help="Replace different files already in DEST (kept otherwise).")
@json_option()
@friendly_errors
def export(batch_id: int, dest: str, approved: bool, overwrite: bool, as_json: bool) -> None:
    """Copy BATCH's approved outputs under their output names into DEST, with DEST/export.csv listing them.

    Each file is checked against its record first; DEST may not be inside an output folder."""
    from batch.commands.export import export_approved

    files = export_approved(service.sessions(), batch_id, dest, overwrite=overwrite)
    echo_or_emit(as_json, lambda: {"batch_id": batch_id, "dest": str(Path(dest).absolute()),
                                   "files": [f.as_json() for f in files]},
                 lambda: [f"{len(files)} files exported to {dest}"])


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind (elsewhere: a token is needed).")
@click.option("--port", default=8600, show_default=True, type=click.IntRange(0, 65535), help="Port to listen on.")
@click.option("--token", envvar="NANOBATCH_SERVE_TOKEN",
              help="Token required when not bound to loopback (default: generated and printed).")
@click.option("--metrics-port", type=click.IntRange(1, 65535), default=None,
              help="Also serve Prometheus metrics on this port (loopback; NANOBATCH_METRICS_ADDRESS to change).")
@click.option("--workers", "with_workers", is_flag=True,
              help="Run the jobs the page queues (re-runs, an approved pilot) here: workers for those batches "
                   "only, stopped when each settles and when serve stops.")
@click.option("--concurrency", default=8, show_default=True, type=click.IntRange(1, 256),
              help="With --workers: jobs in flight at once per batch.")
@friendly_errors
def serve(host: str, port: int, token: str | None, metrics_port: int | None, with_workers: bool,
          concurrency: int) -> None:
    """Review outputs in a local web app: batches, contact sheets, approve/reject, reruns."""
    from batch.web.app import run

    cfg = service.settings()
    if metrics_port is not None:
        from batch.engine.scrape import start

        start(cfg, metrics_port, redis_url=cfg.redis_url)
    if not with_workers:
        run(cfg, host=host, port=port, token=token)
        return
    import signal

    from batch.cli.console import Terminated, raise_terminated
    from batch.cli.exits import Exit
    from batch.cli.servework import ServeWorkers

    previous = signal.signal(signal.SIGTERM, raise_terminated)  # raised once uvicorn has shut down
    try:
        with ServeWorkers(cfg, concurrency=concurrency) as workers:
            run(cfg, host=host, port=port, token=token, workers=workers)
    except Terminated:
        raise SystemExit(Exit.TERMINATED) from None
    finally:
        signal.signal(signal.SIGTERM, previous)
