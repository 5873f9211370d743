"""What ``nanobatch prune`` prints and asks: the cutoff, the batches that will go, then what went."""

from __future__ import annotations

import time

import click

from batch.cli.jsonout import emit
from batch.commands import prune as pruning
from batch.commands import service
from batch.core.progress import iso_utc
from batch.errors import InputError

SHOWN = 20  # batches listed one a line before asking; the others are counted


def prune_command(older_than: str, *, files: bool, yes: bool, as_json: bool) -> None:
    """Find the batches older than ``older_than``, say which and since when, confirm, delete."""
    age = pruning.parse_age(older_than)
    if as_json and not yes:
        raise InputError("--json needs --yes (nothing can be asked)")
    cutoff = time.time() - age
    found = pruning.candidates(service.sessions(), age, now=cutoff + age)
    listed = [{"batch_id": b.batch_id, "name": b.name, "created_at": iso_utc(b.created_at), "jobs": b.jobs}
              for b in found]
    if not as_json:
        click.echo(f"cutoff: {iso_utc(cutoff)} (batches created and finished before it, {older_than} ago)")
        if not found:
            click.echo(f"no finished batch older than {older_than}")
            return
        click.echo(f"{len(found)} batches older than {older_than} ({sum(b.jobs for b in found)} jobs) will be "
                   f"deleted{' with their files' if files else ''}:")
        for row in listed[:SHOWN]:
            click.echo(f"  batch {row['batch_id']} {row['name']!r}, created {row['created_at']}, {row['jobs']} jobs")
        if len(found) > SHOWN:
            click.echo(f"  ... and {len(found) - SHOWN} more")
        if not yes:
            click.confirm("Delete their rows" + (" and files" if files else "") + "?", abort=True)
    done = pruning.prune(service.sessions(), found, files=files) if found else pruning.Pruned()
    if as_json:
        emit({"older_than": older_than, "cutoff": iso_utc(cutoff), "files": files, "batches": listed,
              "deleted": done.as_json()})
    else:
        click.echo("\n".join(done.lines()))
