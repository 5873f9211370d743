"""``nanobatch schedules run NAME``: fire it, print the batch id, say who will run it (or run it here)."""

from __future__ import annotations

import sys

import click

from batch.cli.exits import Exit, for_batch
from batch.cli.jsonout import emit
from batch.commands import service


def run_schedule(name: str, path: str | None, *, wait: bool, view_flags: tuple[bool, bool], as_json: bool) -> None:
    """Fire ``name`` now; without ``wait`` only the batch id goes to stdout (or the JSON document)."""
    from batch.cli.local import beat_alive
    from batch.commands import schedules as schedule_commands
    from batch.core.progress import iso_utc

    fired = schedule_commands.run_file(path, name)
    batch_id = fired.batch_id
    assert batch_id is not None  # run_file refuses a slot that made no batch
    doc = {"schedule": name, "batch_id": batch_id, "slot": iso_utc(fired.slot), "state": str(fired.state)}
    if not wait:
        alive = beat_alive(service.settings())
        if as_json:
            emit({**doc, "runner": "workers" if alive else "none", "status": None})
        else:
            click.echo(batch_id)
        if alive:
            click.echo(f"batch {batch_id}: the workers will run it (a beat is alive); follow it with "
                       f"nanobatch status {batch_id} --watch", err=True)
        else:
            click.echo(f"batch {batch_id}: no beat is alive, so nothing runs it yet: start `nanobatch worker` "
                       f"(it runs a beat when none is alive), or run it here with `nanobatch resume {batch_id}`",
                       err=True)
        return
    from batch.cli import console

    quiet, no_progress = view_flags
    if not as_json and not quiet:
        click.echo(batch_id)
    status = console.run_with_progress(batch_id, view=console.view_for(quiet or as_json, no_progress))
    if as_json:
        emit({**doc, "runner": "here", "status": status.as_json()})
    code = for_batch(status)
    if code != Exit.OK:
        sys.exit(code)
