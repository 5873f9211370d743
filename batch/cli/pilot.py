"""The ``pilot`` commands: approve (choosing prompt variants) or reject a batch's pilot (loaded when asked for)."""

from __future__ import annotations

import click

from batch.cli.friendly import friendly_errors
from batch.cli.main import _exit_after_run
from batch.commands import service


@click.group()
def pilot() -> None:
    """Decide on a batch's pilot: the sample that ran first while the rest waits, unpaid."""


@pilot.command()
@click.argument("batch_id", metavar="BATCH", type=int)
@click.option("--variant", "variants", multiple=True, metavar="STYLE=NAME",
              help="The prompt variant the rest of STYLE runs with (one per style that has variants).")
@click.option("--detach", is_flag=True, help="Only release the rest; leave the running to other workers.")
@click.option("--concurrency", default=8, show_default=True, help="Worker threads.")
@friendly_errors
def approve(batch_id: int, variants: tuple[str, ...], detach: bool, concurrency: int) -> None:
    """Approve BATCH's pilot: the rest of the batch runs (the pilot's results count, none paid twice).

    The jobs of the variants not chosen are cancelled unpaid. Exits as run does (0 with --detach).
    """
    from batch.cli import console
    from batch.commands.pilot import approve as approve_pilot
    from batch.commands.pilot import parse_choices

    released, cancelled = approve_pilot(service.require_batch(batch_id), batch_id, parse_choices(variants))
    click.echo(f"pilot approved: {released} jobs released" +
               (f", {cancelled} jobs of the other variants cancelled unpaid" if cancelled else ""))
    if detach:
        return
    _exit_after_run(console.run_with_progress(batch_id, concurrency=concurrency))


@pilot.command()
@click.argument("batch_id", metavar="BATCH", type=int)
@friendly_errors
def reject(batch_id: int) -> None:
    """Reject BATCH's pilot: the jobs waiting for it are cancelled unpaid, and the batch is stopped."""
    from batch.commands import operations
    from batch.commands.pilot import reject as reject_pilot

    cancelled = reject_pilot(service.require_batch(batch_id), batch_id)
    report = operations.cancel(service.runtime(), batch_id)
    click.echo(f"pilot rejected: {cancelled} waiting jobs cancelled unpaid")
    click.echo("\n".join(report.lines()))
