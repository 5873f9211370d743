"""The command list of ``nanobatch --help``: every command on one line, grouped by what it is for.

The one-liners live here rather than being cut from each command's docstring (click's default
cuts them at the column's end with "..."), and a lazy command (the simulator) is described
without importing it. A command missing here still shows, under "other", with its own summary.
"""

from __future__ import annotations

from collections.abc import Callable

import click

SECTIONS: dict[str, dict[str, str]] = {
    "Running": {
        "validate": "Check a manifest: every problem at file:line; writes nothing",
        "submit": "Store a manifest as a batch for the workers (--dry-run: price it)",
        "run": "Submit, run with embedded workers and a progress bar, summarise",
        "worker": "A Celery worker; alone, it runs the beat too",
    },
    "Operating": {
        "resume": "Continue a batch stopped by dead workers or by its budget",
        "pilot": "Approve (choosing prompt variants) or reject a batch's pilot",
        "retry": "Queue a batch's failed jobs again",
        "cancel": "Stop a batch: no new submits, cancel what waits upstream",
        "prune": "Delete old finished batches' rows (their files only if asked)",
        "doctor": "Check the setup (token, API, broker, database, buckets, disk)",
    },
    "Reporting": {
        "status": "A batch's counts by state (--watch: live), or the recent batches",
        "report": "A batch's report: CSV, JSON or a self-contained HTML page",
    },
    "Reviewing": {
        "serve": "The review web app: progress, contact sheets, approve, re-run",
        "review": "List, approve or reject a batch's outputs from the command line",
        "export": "Copy a batch's approved outputs (and an export.csv) to a folder",
    },
    "Scheduling": {
        "schedules": "List or fire the cron schedules of a schedules file",
        "beat": "THE beat (one per deployment): tick, schedules, notifications",
    },
    "Simulator": {
        "simulate": "A local stand-in for the RunComfy API, for rehearsals",
    },
}


def format_commands(names: list[str], command: Callable[[str], click.Command | None],
                    formatter: click.HelpFormatter) -> None:
    """Write the grouped command list; ``command`` is asked only for commands not described here."""
    described = {name for section in SECTIONS.values() for name in section}
    groups = [(title, [(name, text) for name, text in entries.items() if name in names])
              for title, entries in SECTIONS.items()]
    others = []
    for name in names:
        found = None if name in described else command(name)
        if found is not None and not found.hidden:
            others.append((name, found.get_short_help_str(limit=formatter.width)))
    groups.append(("Other", others))
    width = max((len(name) for name in names), default=0)  # one column for every section, not one per section
    for title, rows in groups:
        if rows:
            with formatter.section(title):
                formatter.write_dl([(name.ljust(width), text) for name, text in rows])
