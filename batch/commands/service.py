"""What the CLI commands do, as plain functions over the configured database."""

from __future__ import annotations

import time
from dataclasses import replace
from functools import cache
from typing import TYPE_CHECKING

from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from batch.commands.batches import BatchStatus, SubmitOptions, batch_status, create_batch, latest_batch_id
from batch.config import Settings, load_settings
from batch.errors import InputError
from batch.manifest import Manifest
from batch.store import db
from batch.store.models import Batch

if TYPE_CHECKING:  # the API client, limiter and image code load only for the commands that use them
    from batch.commands.plan import Plan
    from batch.engine.runtime import Runtime


@cache
def settings() -> Settings:
    """The process's settings (read once from the environment)."""
    return load_settings()


def sessions() -> sessionmaker[Session]:
    """Sessions on the configured database, created and migrated on first use (for commands that write)."""
    return db.session_factory(settings().db_url)


def stored() -> bool:
    """True when there is a database to read: a configured URL, or the SQLite file in the home."""
    cfg = settings()
    return cfg.database_url is not None or (cfg.home / "nanobatch.db").exists()


def where() -> str:
    """The home and database in use, for messages: ``/abs/.nanobatch (sqlite:///...)``, no password."""
    cfg = settings()
    return f"{cfg.home.absolute()} ({make_url(cfg.db_url).render_as_string(hide_password=True)})"


def reading_sessions() -> sessionmaker[Session] | None:
    """Sessions for a command that only reads, or None when there is no database yet.

    Reading never creates a home or a database: ``status`` run from the wrong directory says
    where it looked instead of leaving an empty ``.nanobatch`` behind.
    """
    return sessions() if stored() else None


def require_batch(batch_id: int) -> sessionmaker[Session]:
    """Sessions on a database that holds ``batch_id``, else InputError naming where it looked."""
    factory = reading_sessions()
    if factory is not None:
        with factory() as session:
            if session.get(Batch, batch_id) is not None:
                return factory
    raise InputError(f"no batch {batch_id} in {where()}")


def load(path: str) -> Manifest:
    """Load and validate a manifest (raises ManifestError listing every problem)."""
    from batch.manifest import load_manifest

    return load_manifest(path)


def submit(path: str, *, name: str | None = None, options: SubmitOptions | None = None,
           check_inputs: bool = False) -> tuple[int, int]:
    """Validate the manifest, then store it as a batch; returns (batch id, job count).

    A missing token against the real API is an error before any row is written.
    """
    cfg = settings()
    if cfg.is_real_api:
        cfg.require_token()
    manifest = load(path)
    opts = options or SubmitOptions()
    if check_inputs:
        opts = replace(opts, validators=_validators(manifest))
    batch_id = create_batch(sessions(), manifest, now=time.time(), name=name, options=opts)
    return batch_id, len(manifest.jobs)


def dry_run(path: str, *, force: bool = False, check_inputs: bool = False, budget_usd: float | None = None) -> Plan:
    """What submitting the manifest would run, reuse and cost, against its budget (``budget_usd``,
    else the manifest's); writes nothing (not even a new database)."""
    from batch.commands.plan import plan
    from batch.core.cost import PriceTable

    manifest = load(path)
    cfg = settings()
    found = plan(manifest, PriceTable(cfg.price_1k_2k, cfg.price_4k), reading_sessions(),
                 force=force, validators=_validators(manifest) if check_inputs else None)
    return replace(found, budget_usd=budget_usd if budget_usd is not None else manifest.budget_usd)


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
    """The batch's status (default: the newest batch); InputError naming the home and database if none."""
    factory = reading_sessions()
    if batch_id is None:
        batch_id = latest_batch_id(factory) if factory is not None else None
        if batch_id is None:
            raise InputError(f"no batches in {where()}: submit a manifest first")
    found = batch_status(factory, batch_id) if factory is not None else None
    if found is None:
        raise InputError(f"no batch {batch_id} in {where()}")
    return found
