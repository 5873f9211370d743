"""The exit codes of every ``nanobatch`` command: one table a script can branch on (README, "Exit codes").

Codes 0 to 4 say how a batch ended or why a command could not start; 130 and 143 say the
command was stopped by a signal (128 + SIGINT / SIGTERM, as shells report them).
"""

from __future__ import annotations

import signal
from enum import IntEnum
from typing import TYPE_CHECKING

from batch.core.states import JobState

if TYPE_CHECKING:
    from batch.store.queries import BatchStatus


class Exit(IntEnum):
    """What a ``nanobatch`` process's exit status means."""

    OK = 0  # every job succeeded (or the command did what it was asked)
    FAILED = 1  # some jobs failed, or the command met an error while running
    USAGE = 2  # setup or usage error: bad arguments, manifest, configuration; nothing was started
    BUDGET = 3  # the batch stopped at its budget: its parked jobs wait for `resume --budget`
    PERSON = 4  # waiting for a person: the batch is paused (a setup error), has held jobs, or its pilot waits
    INTERRUPTED = 128 + signal.SIGINT  # Ctrl-C: stopped cleanly, nothing lost
    TERMINATED = 128 + signal.SIGTERM  # SIGTERM: stopped cleanly, nothing lost


def for_batch(status: BatchStatus) -> Exit:
    """The exit code of ``run`` / ``resume`` for a batch they stopped watching.

    A batch that waits for a person says so before its failures: a person has to act first.
    """
    if status.paused or status.pilot_waiting or status.counts.get(JobState.HELD.value):
        return Exit.PERSON
    if status.parked:
        return Exit.BUDGET
    return Exit.OK if status.all_succeeded else Exit.FAILED
