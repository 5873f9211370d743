"""What ``nanobatch review`` does: record approvals and rejections, and list the decisions."""

from __future__ import annotations

import getpass
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from batch.core.progress import iso_utc
from batch.errors import InputError
from batch.store import reviews as store
from batch.store import sheet as sheet_store
from batch.store.db import transaction
from batch.store.models import Batch


def reviewer() -> str:
    """Who is deciding: ``$NANOBATCH_REVIEWER``, else the login name of this process."""
    name = os.environ.get("NANOBATCH_REVIEWER", "").strip()
    if name:
        return name[:100]
    try:
        return getpass.getuser()[:100]
    except (OSError, KeyError):
        return "unknown"


def check_batch(session: Session, batch_id: int) -> Batch:
    """The batch, or InputError when there is none."""
    batch = session.get(Batch, batch_id)
    if batch is None:
        raise InputError(f"no batch {batch_id}")
    return batch


def _resolve(session: Session, batch_id: int, keys: Sequence[str]) -> list[int]:
    """Job ids for the keys; InputError naming the first unknown or unreviewable job."""
    found = store.ids_by_key(session, batch_id, keys)
    missing = [k for k in keys if k not in found]
    if missing:
        raise InputError(f"batch {batch_id} has no job {missing[0]!r}")
    ids = [found[k] for k in keys]
    ready = set(store.reviewable(session, batch_id, ids))
    for key in keys:
        if found[key] not in ready:
            raise InputError(f"job {key!r} of batch {batch_id} has no files to review yet")
    return ids


def decide(sessions: sessionmaker[Session], batch_id: int, keys: Sequence[str], decision: str, *, now: float,
           note: str | None = None, who: str | None = None, every_unreviewed: bool = False) -> int:
    """Approve or reject the jobs named by ``keys`` (or, with ``every_unreviewed``, every job that
    has files and no decision yet); returns how many decisions were recorded."""
    if not keys and not every_unreviewed:
        raise InputError("name the jobs to review (their ids), or give --all for every job not yet reviewed")
    with transaction(sessions) as session:
        check_batch(session, batch_id)
        if keys:
            ids = _resolve(session, batch_id, keys)
        else:
            decided = store.latest(session, batch_id)
            ids = [i for i in store.reviewable(session, batch_id) if i not in decided]
        return store.record(session, ids, decision, who=who or reviewer(), now=now, note=note)


def decide_ids(sessions: sessionmaker[Session], batch_id: int, job_ids: Sequence[int], decision: str, *,
               now: float, note: str | None = None, who: str | None = None) -> int:
    """Like ``decide`` for job ids (the web app's); ids of other batches or without files are skipped."""
    with transaction(sessions) as session:
        check_batch(session, batch_id)
        ids = store.reviewable(session, batch_id, list(job_ids))
        return store.record(session, ids, decision, who=who or reviewer(), now=now, note=note)


@dataclass(frozen=True)
class ReviewLine:
    """One job in ``review list``: its key, state and current decision (None: not reviewed)."""

    key: str
    state: str
    decision: store.Decision | None

    def as_json(self) -> dict[str, Any]:
        """The line as plain values."""
        current = self.decision
        return {"id": self.key, "state": self.state, "decision": current.decision if current else None,
                "note": current.note if current else None, "who": current.who if current else None,
                "at": iso_utc(current.at) if current else None}

    def render(self) -> str:
        """The line as ``review list`` prints it."""
        current = self.decision
        if current is None:
            return f"{self.key}\t{self.state}\tunreviewed"
        note = f"\t{current.note}" if current.note else ""
        return f"{self.key}\t{self.state}\t{current.decision}\t{current.who}\t{iso_utc(current.at)}{note}"


def list_reviews(sessions: sessionmaker[Session], batch_id: int, only: str | None = None) -> list[ReviewLine]:
    """Every job with files to review and its decision; ``only``: approved, rejected or unreviewed."""
    with sessions() as session:
        check_batch(session, batch_id)
        decided = store.latest(session, batch_id)
        rows = store.reviewable_jobs(session, batch_id, decided)
    lines = [ReviewLine(key, state, decided.get(job_id)) for job_id, key, state in rows]
    if only == "unreviewed":
        return [line for line in lines if line.decision is None]
    if only is not None:
        return [line for line in lines if line.decision is not None and line.decision.decision == only]
    return lines


def decide_outputs(sessions: sessionmaker[Session], batch_id: int, output_ids: Sequence[int], decision: str, *,
                   now: float, note: str | None = None, who: str | None = None) -> int:
    """Record ``decision`` (approved, rejected or cleared) on these outputs of the batch (the web app's);
    outputs of other batches or of jobs without files are skipped. Returns how many were recorded."""
    with transaction(sessions) as session:
        check_batch(session, batch_id)
        found = sheet_store.outputs_in_batch(session, batch_id, output_ids)
        targets = [found[o] for o in dict.fromkeys(output_ids) if o in found]
        return store.record_outputs(session, targets, decision, who=who or reviewer(), now=now, note=note)


@dataclass(frozen=True)
class GroupDecision:
    """What deciding a whole group did (or would do): its outputs, how many were rejected, and
    each output's decision before (for undo); ``recorded``: 0 on a dry run."""

    outputs: int
    rejected: int
    recorded: int
    before: list[dict[str, Any]]


def decide_group(sessions: sessionmaker[Session], batch_id: int, group: str, key: str, decision: str, *, now: float,
                 rejected_seen: int | None, who: str | None = None) -> GroupDecision:
    """Record ``decision`` on every reviewable output of one group of the whole batch.

    ``rejected_seen``: how many rejected outputs the person agreed to override (None: a dry run
    that only counts). InputError when the group now holds more rejected outputs than that.
    """
    with transaction(sessions) as session:
        check_batch(session, batch_id)
        rows = sheet_store.group_outputs(session, batch_id, group, key)
        rejected = sum(1 for *_, d in rows if d == store.REJECTED)
        if rejected_seen is None:
            return GroupDecision(len(rows), rejected, 0, [])
        if decision != store.REJECTED and rejected > rejected_seen:
            raise InputError(f"{rejected} outputs of this group are rejected now, not {rejected_seen}: ask again")
        decided = store.of_outputs(session, sorted({j for _, j, _, _ in rows}))
        before = [{"output": o, "decision": d or store.CLEARED, "note": (decided.get((j, i)) or _NONE).note}
                  for o, j, i, d in rows]
        count = store.record_outputs(session, [(j, i) for _, j, i, _ in rows], decision, who=who or reviewer(),
                                     now=now)
        return GroupDecision(len(rows), rejected, count, before)


_NONE = store.Decision(0, None, store.CLEARED, None, "", 0.0)
