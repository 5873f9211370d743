"""Run rejected jobs again: one new job per rejected job, in the same batch, linked to it.

The new job is named ``<key>~rN`` and writes ``<output stem>~rN<ext>`` (N: 2 for the first rerun,
then 3...), so the rejected file stays on disk and in the database beside the new one. Its
fingerprint is its own: the rejected result is never reused as a cached answer to the rerun.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from batch.commands.review import check_batch
from batch.core.cost import PriceTable, usd_float
from batch.store import reviews as store
from batch.store.db import transaction
from batch.store.models import Job

_RERUN = re.compile(r"^(?P<root>.*)~r(?P<n>\d+)$")


@dataclass(frozen=True)
class RerunPlan:
    """What a rerun of the batch's rejected jobs would make: the new jobs and their estimated price."""

    batch_id: int
    keys: list[str]
    cost_usd: float

    def line(self) -> str:
        """One line for a person to confirm."""
        return f"{len(self.keys)} rejected jobs of batch {self.batch_id} to run again, about ${self.cost_usd:.2f}"


def attempt_name(key: str) -> tuple[str, int]:
    """The key's root (without ``~rN``) and the number of the next attempt."""
    found = _RERUN.match(key)
    if found is None:
        return key, 2
    return found["root"], int(found["n"]) + 1


def _output_name(output_name: str, attempt: int) -> str:
    path = PurePosixPath(output_name)
    root, _ = attempt_name(path.stem)
    return str(path.with_name(f"{root}~r{attempt}{path.suffix}"))


def _new_job(job: Job, prompt_append: str | None, taken: set[str]) -> dict[str, Any]:
    root, attempt = attempt_name(job.key)
    while f"{root}~r{attempt}" in taken:
        attempt += 1
    key = f"{root}~r{attempt}"
    inputs = dict(job.inputs)
    if prompt_append:
        inputs["prompt"] = f"{inputs.get('prompt', '')} {prompt_append}".strip()
    print_ = hashlib.sha256(f"{job.fingerprint}:rerun:{key}:{inputs.get('prompt', '')}".encode()).hexdigest()
    return {"key": key, "inputs": inputs, "input_sources": job.input_sources,
            "output_name": _output_name(job.output_name, attempt), "fingerprint": print_}


def _planned(session: Session, batch_id: int, prompt_append: str | None) -> list[tuple[int, dict[str, Any]]]:
    check_batch(session, batch_id)
    jobs = store.rejected_not_rerun(session, batch_id)
    taken: set[str] = set()
    planned: list[tuple[int, dict[str, Any]]] = []
    for job in jobs:
        values = _new_job(job, prompt_append, taken)
        while store.taken_keys(session, batch_id, [values["key"]]):
            taken.add(values["key"])
            values = _new_job(job, prompt_append, taken)
        taken.add(values["key"])
        planned.append((job.id, values))
    return planned


def plan(sessions: sessionmaker[Session], prices: PriceTable, batch_id: int,
         prompt_append: str | None = None) -> RerunPlan:
    """The rerun of the batch's rejected jobs, not yet made: how many and what it would cost."""
    with sessions() as session:
        planned = _planned(session, batch_id, prompt_append)
    cost = usd_float(prices.estimate(v["inputs"] for _, v in planned))
    return RerunPlan(batch_id, [v["key"] for _, v in planned], cost)


def rerun(sessions: sessionmaker[Session], batch_id: int, *, now: float, prompt_append: str | None = None) -> list[int]:
    """Make a new pending job for each rejected job not yet rerun; returns the new jobs' ids.

    Safe to run twice: a rejected job that already has a rerun is left alone. A cancelled batch is
    open again (as ``retry`` does), or its new jobs would never be submitted.
    """
    with transaction(sessions) as session:
        made = store.add_reruns(session, batch_id, _planned(session, batch_id, prompt_append), now=now)
        if made:
            check_batch(session, batch_id).cancelled_at = None
        return made
