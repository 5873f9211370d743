"""What the CLI commands do, as plain functions over the configured database."""

from __future__ import annotations

import time
from functools import cache

from sqlalchemy.orm import Session, sessionmaker

from batch import db
from batch.batches import BatchStatus, batch_status, create_batch, latest_batch_id
from batch.config import Settings, load_settings
from batch.errors import InputError
from batch.manifest import Manifest, load_manifest


@cache
def settings() -> Settings:
    """The process's settings (read once from the environment)."""
    return load_settings()


def sessions() -> sessionmaker[Session]:
    """Sessions on the configured database, migrated on first use."""
    return db.session_factory(settings().db_url)


def load(path: str) -> Manifest:
    """Load and validate a manifest (raises ManifestError listing every problem)."""
    return load_manifest(path)


def submit(path: str, *, name: str | None = None) -> tuple[int, int]:
    """Validate the manifest, then store it as a batch; returns (batch id, job count).

    A missing token against the real API is an error before any row is written.
    """
    cfg = settings()
    if cfg.is_real_api:
        cfg.require_token()
    manifest = load(path)
    batch_id = create_batch(sessions(), manifest, now=time.time(), name=name)
    return batch_id, len(manifest.jobs)


def status(batch_id: int | None) -> BatchStatus:
    """The batch's status (default: the newest batch)."""
    factory = sessions()
    if batch_id is None:
        batch_id = latest_batch_id(factory)
        if batch_id is None:
            raise InputError("no batches yet: submit a manifest first")
    found = batch_status(factory, batch_id)
    if found is None:
        raise InputError(f"no batch {batch_id}")
    return found
