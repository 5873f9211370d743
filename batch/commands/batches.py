"""A manifest made into a batch: the choices above the store, which writes the plain values.

Here are the policies of a new batch: its name (``--name``, else the manifest's), its default
output folder (``./out/<name>``), its budget (``--budget`` over the manifest's), the options it
keeps (notify, storage, output URL, ``--force``), each job's fingerprint, the pilot's sample, and
the jobs that fail unsubmitted (an input ``--check-inputs`` could not fetch, an input known not to
decode). ``store/batches.insert_batch`` writes the result in one transaction.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from batch.core.fingerprint import fingerprint
from batch.core.pilot import sample_units
from batch.core.undecodable import input_key
from batch.manifest import Manifest
from batch.store.batches import NewBatch, NewJob, insert_batch
from batch.store.rejects import undecodable


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
    batch = NewBatch(
        name=batch_name,
        manifest_path=str(Path(manifest.path).resolve()),
        output_dir=manifest.output_dir or default_output_dir(batch_name),
        requests_per_second=manifest.limits.requests_per_second,
        submits_per_second=manifest.limits.submits_per_second,
        max_in_flight=manifest.limits.max_in_flight,
        budget_usd=opts.budget_usd if opts.budget_usd is not None else manifest.budget_usd,
        options=extra,
    )
    pilot = pilot_block(manifest, opts.pilot)
    sample = pilot_units(manifest, pilot["size"]) if pilot else set()
    jobs = [NewJob(key=spec.id, inputs=spec.inputs, sources=spec.sources, output_name=spec.output_name,
                   fingerprint=fingerprint(spec.inputs, opts.validators), pilot=spec.sample_unit in sample,
                   style=spec.style, variant=spec.variant)
            for spec in manifest.jobs]
    failures = {**input_failures(manifest, opts.unreachable or {}), **(opts.refused or {})}
    return insert_batch(sessions, batch, jobs, now=now, failures=failures, pilot=pilot)


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
