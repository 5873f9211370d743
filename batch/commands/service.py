"""What the CLI commands do, as plain functions over the configured database."""

from __future__ import annotations

import time
from dataclasses import replace
from functools import cache
from typing import TYPE_CHECKING

from sqlalchemy.orm import Session, sessionmaker

from batch.config import Settings, load_settings
from batch.errors import InputError
from batch.manifest import Manifest
from batch.store import db
from batch.store.batches import SubmitOptions, create_batch, get_batch
from batch.store.queries import BatchStatus, batch_status, latest_batch_id

if TYPE_CHECKING:  # the API client, limiter and image code load only for the commands that use them
    from batch.commands.cached import Progress
    from batch.commands.plan import Plan
    from batch.engine.runtime import Runtime


@cache
def settings() -> Settings:
    """The process's settings (read once from the environment)."""
    return load_settings()


def sessions() -> sessionmaker[Session]:
    """Sessions on the configured database, migrated on first use."""
    return db.session_factory(settings().db_url)


def load(path: str) -> Manifest:
    """Load and validate a manifest (raises ManifestError listing every problem)."""
    from batch.manifest import load_manifest

    return load_manifest(path)


def submit(path: str, *, name: str | None = None, options: SubmitOptions | None = None,
           check_inputs: bool = False, on_progress: Progress | None = None) -> tuple[int, int]:
    """Validate the manifest, then store it as a batch; returns (batch id, job count).

    A missing token against the real API is an error before any row is written. Unless
    ``force``, the jobs that earlier identical jobs' intact files answer end ``cached`` before
    this returns (``batch.commands.cached``; ``on_progress`` follows that pass).
    """
    cfg = settings()
    if cfg.is_real_api:
        cfg.require_token()
    manifest = load(path)
    opts = options or SubmitOptions()
    if check_inputs:
        opts = replace(opts, validators=_validators(manifest))
    factory = sessions()
    batch_id = create_batch(factory, manifest, now=time.time(), name=name, options=opts)
    if not opts.force:
        from batch.commands.cached import finish_cached

        batch = get_batch(factory, batch_id)
        assert batch is not None
        finish_cached(factory, batch_id, batch.output_dir, on_progress=on_progress)
    return batch_id, len(manifest.jobs)


def dry_run(path: str, *, force: bool = False, check_inputs: bool = False) -> Plan:
    """What submitting the manifest would run, reuse and cost; writes nothing (not even a new database)."""
    from batch.commands.plan import plan
    from batch.core.cost import PriceTable

    manifest = load(path)
    cfg = settings()
    existing = cfg.database_url is not None or (cfg.home / "nanobatch.db").exists()
    return plan(manifest, PriceTable(cfg.price_1k_2k, cfg.price_4k), sessions() if existing else None,
                force=force, validators=_validators(manifest) if check_inputs else None)


def _validators(manifest: Manifest) -> dict[str, str]:
    import requests

    from batch.files.cache import input_validators

    urls = {url for spec in manifest.jobs for url in spec.inputs.get("image_urls", [])}
    return input_validators(requests.Session(), urls)


def runtime() -> Runtime:
    """A Runtime for commands that call the API themselves (cancel): the shared limiter if Redis runs."""
    from batch import redis as redis_server
    from batch.engine.runtime import build_runtime

    cfg = settings()
    redis_url = cfg.redis_url
    if redis_url is None and redis_server.is_running(cfg.home):
        redis_url = redis_server.url_for(cfg.home)
    return build_runtime(cfg, redis_url=redis_url)


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
