"""``nanobatch doctor [MANIFEST]``: one line per check of the setup, ``--json`` for a scheduler.

Exit status 0 when every check passed (or was skipped), 1 when one failed, 2 for a usage error.
The checks are ``batch.commands.doctor``'s; this only prints them.
"""

from __future__ import annotations

import json
import sys

import click

from batch.cli.friendly import friendly_errors
from batch.commands import service

MARKS = {"ok": "ok  ", "fail": "FAIL", "skip": "skip"}


@click.command()
@click.argument("manifest", required=False, type=click.Path(dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print {ok, checks: [{name, status, detail, seconds}]}.")
@friendly_errors
def doctor(manifest: str | None, as_json: bool) -> None:
    """Check the setup before a night's batch: token, API latency, broker, database, buckets, free space,
    schedules. Costs nothing; exit 0 only if every check passes."""
    from batch.commands.doctor import passed, run_checks

    results = run_checks(service.settings(), manifest)
    ok = passed(results)
    if as_json:
        click.echo(json.dumps({"ok": ok, "checks": [r.as_json() for r in results]}, indent=2))
    else:
        width = max(len(r.name) for r in results)
        for r in results:
            click.echo(f"{MARKS.get(r.status, r.status)}  {r.name:<{width}}  {r.detail}")
    sys.exit(0 if ok else 1)
