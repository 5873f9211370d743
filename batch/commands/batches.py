"""Batch-level operations the CLI calls: create a batch from a manifest, summarise its progress."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session, sessionmaker

from batch.core.schema import MODEL_ID
from batch.core.states import TERMINAL, JobState, StateCounts
from batch.manifest import Manifest
from batch.store import jobs as store
from batch.store import reviews as review_store
from batch.store.db import transaction
from batch.store.models import Batch, Job

INSERT_CHUNK = 5_000


def fingerprint(inputs: dict[str, Any], validators: dict[str, str] | None = None) -> str:
    """What makes two jobs the same edit: the model, the canonical input body and, when checked,
    what the input URLs' servers say of their files (ETag, Last-Modified, length)."""
    document: dict[str, Any] = {"model": MODEL_ID, "inputs": inputs}
    if validators:
        document["validators"] = [validators.get(url, "") for url in inputs.get("image_urls", [])]
    canonical = json.dumps(document, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def default_output_dir(name: str) -> str:
    """``./out/<name>`` with the name made safe for a folder."""
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-.") or "batch"
    return str((Path.cwd() / "out" / slug).resolve())


@dataclass(frozen=True)
class SubmitOptions:
    """Choices made at submit time: name, cache bypass, budget override, input validators."""

    name: str | None = None
    force: bool = False
    budget_usd: float | None = None
    validators: dict[str, str] | None = None


def create_batch(sessions: sessionmaker[Session], manifest: Manifest, *, now: float,
                 name: str | None = None, options: SubmitOptions | None = None) -> int:
    """Write the batch row and one pending row per job in one transaction; return the batch id."""
    opts = options or SubmitOptions(name=name)
    batch_name = name or opts.name or manifest.name
    extra: dict[str, Any] = {"force": True} if opts.force else {}
    if manifest.notify:
        extra["notify"] = manifest.notify
    with transaction(sessions) as session:
        batch = Batch(
            name=batch_name,
            manifest_path=str(Path(manifest.path).resolve()),
            output_dir=manifest.output_dir or default_output_dir(batch_name),
            created_at=now,
            requests_per_second=manifest.limits.requests_per_second,
            submits_per_second=manifest.limits.submits_per_second,
            max_in_flight=manifest.limits.max_in_flight,
            budget_usd=opts.budget_usd if opts.budget_usd is not None else manifest.budget_usd,
            options=extra,
        )
        session.add(batch)
        session.flush()
        rows = [
            {
                "batch_id": batch.id, "key": spec.id, "state": JobState.PENDING.value, "inputs": spec.inputs,
                "output_name": spec.output_name, "fingerprint": fingerprint(spec.inputs, opts.validators),
                "next_action_at": now, "created_at": now, "attempts": 0, "submits": 0, "polls": 0,
                "uncertain_submits": 0,
            }
            for spec in manifest.jobs
        ]
        for start in range(0, len(rows), INSERT_CHUNK):
            session.execute(insert(Job), rows[start:start + INSERT_CHUNK])
        return batch.id


@dataclass(frozen=True)
class BatchStatus(StateCounts):
    """A batch's progress as ``nanobatch status`` shows it."""

    batch_id: int
    name: str
    counts: dict[str, int]
    output_dir: str
    uncertain_submits: int
    cost: float
    parked: str | None = None  # why pending jobs wait for a person (e.g. the budget was reached)
    budget_usd: float | None = None
    reviews: dict[str, int] | None = None  # jobs currently approved / rejected

    @property
    def settled(self) -> bool:
        """True when nothing will move without a person: every job terminal, held, or parked pending."""
        waiting = {JobState.HELD.value} | ({JobState.PENDING.value} if self.parked else set())
        moving = sum(n for s, n in self.counts.items() if JobState(s) not in TERMINAL and s not in waiting)
        return moving == 0

    @property
    def done(self) -> bool:
        """True when every job is terminal."""
        return self.finished == self.total

    @property
    def all_succeeded(self) -> bool:
        """True when every job ended succeeded (or cached)."""
        return self.succeeded == self.total

    def as_json(self) -> dict[str, Any]:
        """The ``status --json`` document."""
        return {"batch_id": self.batch_id, "name": self.name, "total": self.total, "counts": self.counts,
                "done": self.done, "uncertain_submits": self.uncertain_submits, "cost_usd": self.cost,
                "parked": self.parked, "budget_usd": self.budget_usd, "reviews": self.reviews or {}}


def batch_status(sessions: sessionmaker[Session], batch_id: int) -> BatchStatus | None:
    """The batch's counts by state, or None when there is no such batch."""
    with sessions() as session:
        batch = session.get(Batch, batch_id)
        if batch is None:
            return None
        counts, uncertain = store.state_totals(session, batch_id)
        reviewed = review_store.counts(session, batch_id)
    return BatchStatus(batch_id, batch.name, counts, batch.output_dir, uncertain, batch.charged_usd,
                       batch.options.get("parked"), batch.budget_usd, reviewed)


def latest_batch_id(sessions: sessionmaker[Session]) -> int | None:
    """The most recently created batch, if any."""
    with sessions() as session:
        return session.scalars(select(Batch.id).order_by(Batch.id.desc()).limit(1)).first()
