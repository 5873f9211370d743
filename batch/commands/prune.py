"""``nanobatch prune``: delete the rows of old, finished batches, in bounded transactions.

Rows go (jobs, their events and outputs, the batch's notifications, the batch); files stay
unless asked (``files``), and even then a file that a kept batch's output row still records
(a nightly rerun writes the same paths) is left in place, and so is a file that is no longer
the one recorded (retouched since, or replaced by a link): those are listed.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from batch.errors import InputError
from batch.files.recorded import file_matches
from batch.store import prune as store
from batch.store.db import transaction
from batch.store.prune import OldBatch

JOBS_PER_TRANSACTION = 1000  # with their events and outputs: a few thousand rows a transaction
PATHS_PER_QUERY = 500
_UNITS = {"s": 1, "min": 60, "h": 3600, "d": 86_400, "w": 7 * 86_400}
_AGE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([a-z]+)\s*$")


def parse_age(text: str) -> float:
    """Seconds of an age such as ``90d``, ``12w``, ``36h``, ``30min`` or ``30s``; InputError otherwise.

    ``m`` is refused: minutes to some, months to others (``3m`` once deleted three minutes' batches).
    """
    found = _AGE.match(text.lower())
    if found is not None and found.group(2) in ("m", "mo", "month", "months"):
        raise InputError(f"--older-than {text!r}: 'm' could be minutes or months; write {found.group(1)}min "
                         f"for minutes, or days (e.g. 90d) for months")
    if found is None or found.group(2) not in _UNITS or float(found.group(1)) <= 0:
        raise InputError(f"--older-than {text!r}: expected a positive number and a unit "
                         f"(s, min, h, d, w), e.g. 90d")
    return float(found.group(1)) * _UNITS[found.group(2)]


@dataclass
class Pruned:
    """What a prune deleted (counts of what happened, not of what was planned)."""

    batches: int = 0
    jobs: int = 0
    events: int = 0
    outputs: int = 0
    notifications: int = 0
    files: int = 0
    kept: list[int] = field(default_factory=list)  # batches left because a job was no longer terminal
    changed: list[str] = field(default_factory=list)  # files left because they are not the recorded ones

    def as_json(self) -> dict[str, Any]:
        """The counts as ``prune --json`` prints them under ``deleted``."""
        return dataclasses.asdict(self)

    def lines(self) -> list[str]:
        """The summary, one fact a line."""
        lines = [f"deleted {self.batches} batches: {self.jobs} jobs, {self.events} events, {self.outputs} output rows, "
                 f"{self.notifications} notifications; {self.files} files"]
        if self.kept:
            lines.append(f"kept batches {', '.join(map(str, self.kept))}: a job of theirs is running again")
        if self.changed:
            lines.append(f"kept {len(self.changed)} files changed since they were recorded (size or sha256 "
                         "differs, or a link):")
            lines += [f"  {path}" for path in self.changed]
        return lines


def candidates(sessions: sessionmaker[Session], older_than: float, now: float) -> list[OldBatch]:
    """The batches a prune of ``older_than`` seconds would delete."""
    with sessions() as session:
        return store.old_batches(session, now - older_than)


def prune(sessions: sessionmaker[Session], batches: Sequence[OldBatch], *, files: bool = False,
          on_batch: Callable[[OldBatch], None] | None = None) -> Pruned:
    """Delete the batches' rows (and, with ``files``, their files no kept row records)."""
    done = Pruned()
    for old in batches:
        paths = _delete_jobs(sessions, old.batch_id, done)
        with transaction(sessions) as session:
            notes = store.delete_batch(session, old.batch_id)
        if notes < 0:
            done.kept.append(old.batch_id)
        else:
            done.batches += 1
            done.notifications += notes
        if files:
            _delete_files(sessions, paths, done)
            _remove_empty_folders(old.output_dir)
        if on_batch is not None:
            on_batch(old)
    return done


def _delete_jobs(sessions: sessionmaker[Session], batch_id: int, done: Pruned) -> list[tuple[str, int, str]]:
    """Delete the batch's terminal jobs, ``JOBS_PER_TRANSACTION`` at a time; the files (path, bytes,
    sha256) their outputs recorded."""
    paths: list[tuple[str, int, str]] = []
    while True:
        with transaction(sessions) as session:
            ids = store.terminal_job_ids(session, batch_id, JOBS_PER_TRANSACTION)
            paths.extend(store.output_files(session, ids))
            jobs, events, outputs = store.delete_jobs(session, ids)
        done.jobs, done.events, done.outputs = done.jobs + jobs, done.events + events, done.outputs + outputs
        if len(ids) < JOBS_PER_TRANSACTION or jobs == 0:
            return paths


def _delete_files(sessions: sessionmaker[Session], files: list[tuple[str, int, str]], done: Pruned) -> None:
    """Remove the files that no remaining output row records and that are still the recorded ones
    (counted in ``done.files``); the others that are there go to ``done.changed``."""
    unique = sorted(set(files))
    for start in range(0, len(unique), PATHS_PER_QUERY):
        chunk = unique[start:start + PATHS_PER_QUERY]
        with sessions() as session:
            recorded = store.still_recorded(session, [path for path, _, _ in chunk])
        for path, size, sha256 in chunk:
            if path in recorded:
                continue
            if not file_matches(path, size, sha256):
                if os.path.lexists(path):
                    done.changed.append(path)
                continue
            try:
                os.remove(path)
                done.files += 1
            except FileNotFoundError:
                pass


def _remove_empty_folders(output_dir: str) -> None:
    """Remove the empty folders below ``output_dir``, deepest first, then ``output_dir`` if it is empty."""
    if not output_dir or not os.path.isdir(output_dir):
        return
    for folder, _, _ in os.walk(output_dir, topdown=False):
        with contextlib.suppress(OSError):  # not empty (a kept batch's file, anything else): it stays
            os.rmdir(folder)
