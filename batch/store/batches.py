"""Batch rows: create a batch with its jobs, and the writes of operations (budget, cancel marks).

Job state is still written only through ``batch.store.jobs``; here are the batch's own columns.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import insert
from sqlalchemy.orm import Session, sessionmaker

from batch.core.cost import usd
from batch.core.fingerprint import fingerprint
from batch.core.pilot import sample_units
from batch.core.states import JobState
from batch.core.undecodable import input_key
from batch.manifest import Manifest
from batch.store.db import transaction
from batch.store.models import Batch, Job
from batch.store.pilot import start as start_pilot
from batch.store.rejects import fail_unsubmitted, undecodable

INSERT_CHUNK = 5_000


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
    unreachable: dict[str, str] | None = None  # input url -> why it cannot be fetched: its jobs fail unsubmitted
    refused: dict[str, str] | None = None  # job id -> why it fails unsubmitted (an input known undecodable)
    pilot: int | None = None  # ``--pilot N``: a pilot of N units, in place of the manifest's pilot: size


def input_failures(manifest: Manifest, unreachable: dict[str, str]) -> dict[str, str]:
    """Job id -> error, for the jobs with an input URL that cannot be fetched."""
    failures: dict[str, str] = {}
    for spec in manifest.jobs:
        bad = [url for url in spec.inputs.get("image_urls", []) if url in unreachable]
        if bad:
            failures[spec.id] = (f"input {bad[0]} {unreachable[bad[0]]} (found by --check-inputs before "
                                 "submitting: nothing paid)")
    return failures


def known_undecodable(sessions: sessionmaker[Session], manifest: Manifest) -> dict[str, str]:
    """Job id -> error, for the jobs with an input that already failed upstream as not a decodable image."""
    with sessions() as session:
        bad = undecodable(session)
    failures: dict[str, str] = {}
    for spec in manifest.jobs:
        for url in spec.inputs.get("image_urls", []):
            if input_key(url) in bad:
                job_id, error = bad[input_key(url)]
                failures[spec.id] = (f"input {url} already failed upstream as not a decodable image (job {job_id}: "
                                     f"{error}); not submitted, nothing paid (--force submits it anyway)")
                break
    return failures


def create_batch(sessions: sessionmaker[Session], manifest: Manifest, *, now: float,
                 name: str | None = None, options: SubmitOptions | None = None) -> int:
    """Write the batch row and one pending row per job in one transaction; return the batch id."""
    opts = options or SubmitOptions(name=name)
    batch_name = name or opts.name or manifest.name
    extra: dict[str, Any] = {"force": True} if opts.force else {}
    if manifest.notify:
        extra["notify"] = manifest.notify
    if manifest.storage is not None:
        extra["storage"] = manifest.storage.as_options()  # endpoint, region, expiry: never credentials
    if manifest.output_url is not None:
        extra["output_url"] = manifest.output_url
    with transaction(sessions) as session:
        batch = Batch(
            name=batch_name,
            manifest_path=str(Path(manifest.path).resolve()),
            output_dir=manifest.output_dir or default_output_dir(batch_name),
            created_at=now,
            requests_per_second=manifest.limits.requests_per_second,
            submits_per_second=manifest.limits.submits_per_second,
            max_in_flight=manifest.limits.max_in_flight,
            budget_usd=_budget(opts.budget_usd if opts.budget_usd is not None else manifest.budget_usd),
            options=extra,
        )
        session.add(batch)
        session.flush()
        pilot = pilot_block(manifest, opts.pilot)
        sample = pilot_units(manifest, pilot["size"]) if pilot else set()
        rows = [
            {
                "batch_id": batch.id, "key": spec.id, "state": JobState.PENDING.value, "inputs": spec.inputs,
                "input_sources": spec.sources,
                "output_name": spec.output_name, "fingerprint": fingerprint(spec.inputs, opts.validators),
                "next_action_at": now, "created_at": now, "attempts": 0, "submits": 0, "polls": 0,
                "uncertain_submits": 0, "pilot": spec.sample_unit in sample, "style": spec.style,
                "variant": spec.variant,
            }
            for spec in manifest.jobs
        ]
        for start in range(0, len(rows), INSERT_CHUNK):
            session.execute(insert(Job), rows[start:start + INSERT_CHUNK])
        failures = {**input_failures(manifest, opts.unreachable or {}), **(opts.refused or {})}
        if failures:
            fail_unsubmitted(session, batch.id, failures, now=now)
        if pilot:
            start_pilot(session, batch.id, pilot, now=now)
        return batch.id


def pilot_block(manifest: Manifest, size: int | None) -> dict[str, Any] | None:
    """The pilot a batch of ``manifest`` runs (``size`` from ``--pilot N`` wins), as the batch keeps it."""
    if size is None and manifest.pilot is None:
        return None
    max_failed = manifest.pilot.max_failed if manifest.pilot else None
    return {"size": size if size is not None else manifest.pilot.size if manifest.pilot else 0,
            "max_failed": max_failed}


def pilot_units(manifest: Manifest, size: int) -> set[str]:
    """The units (item x style) of the manifest's pilot sample (``core.pilot.sample_units``)."""
    return sample_units([(spec.sample_unit, spec.style or "") for spec in manifest.jobs], size)


def get_batch(sessions: sessionmaker[Session], batch_id: int) -> Batch | None:
    """The batch row (detached: read after the session closes), or None."""
    with sessions() as session:
        return session.get(Batch, batch_id)


def set_budget(session: Session, batch_id: int, budget_usd: float) -> None:
    """Give the batch a new budget (``resume --budget``)."""
    batch = session.get(Batch, batch_id)
    assert batch is not None
    batch.budget_usd = _budget(budget_usd)


def _budget(dollars: float | None) -> Decimal | None:
    """A budget as given (a float from YAML or the command line), held exactly as it prints."""
    return None if dollars is None else usd(dollars)


def mark_cancelled(session: Session, batch_id: int, now: float) -> None:
    """Mark the batch cancelled (no more submits), keeping the first time it was."""
    batch = session.get(Batch, batch_id)
    assert batch is not None
    batch.cancelled_at = batch.cancelled_at or now


def clear_cancelled(session: Session, batch_id: int) -> None:
    """Lift the batch's cancel mark (``retry --cancelled`` runs it again)."""
    batch = session.get(Batch, batch_id)
    assert batch is not None
    batch.cancelled_at = None
