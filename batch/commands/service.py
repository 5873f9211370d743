"""What the CLI commands do, as plain functions over the configured database."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace
from functools import cache
from typing import TYPE_CHECKING

from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from batch.commands.batches import SubmitOptions, create_batch, default_output_dir, input_failures, known_undecodable
from batch.config import Settings, load_settings
from batch.errors import InputError
from batch.manifest import Manifest
from batch.store import db
from batch.store.batches import get_batch
from batch.store.models import Batch
from batch.store.queries import BatchStatus, batch_status, latest_batch_id

if TYPE_CHECKING:  # the API client, limiter and image code load only for the commands that use them
    from batch.commands.cached import Progress
    from batch.commands.plan import Plan
    from batch.engine.runtime import Runtime
    from batch.upstream.inputs import InputCheck


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
    return f"{settings().home.absolute()} ({database()})"


def database() -> str:
    """The database's URL, for messages: its password shown as ``***``."""
    return make_url(settings().db_url).render_as_string(hide_password=True)


def unreachable_database(exc: Exception) -> str:
    """One line for a database that did not answer (down, refused, a file SQLite cannot open): which
    one, the driver's first line of why, and what to do; never the password."""
    text = str(getattr(exc, "orig", None) or exc).strip()
    reason = text.splitlines()[0][:200] if text else ""
    password = make_url(settings().db_url).password
    if password:
        reason = reason.replace(str(password), "***")
    return (f"cannot use the database {database()}" + (f" ({reason})" if reason else "")
            + ": check that it is running and reachable, or set NANOBATCH_DATABASE_URL")


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
    """Load and validate a manifest (raises ManifestError listing every problem).

    A manifest naming buckets has them checked too (credentials, bucket there), before any cost.
    """
    from batch.manifest import load_manifest

    manifest = load_manifest(path)
    if manifest.storage or manifest.output_url or manifest.uploads or _names_buckets(manifest):
        from batch.storage.prepare import check_access

        check_access(manifest)
    return manifest


def _names_buckets(manifest: Manifest) -> bool:
    return any("://" in url and not url.startswith(("https://", "http://"))
               for spec in manifest.jobs for url in spec.inputs.get("image_urls", ()))


def validate(path: str, *, name: str | None = None) -> Manifest:
    """Load the manifest and run every check that costs nothing (``preflight``): creates the output folder."""
    from batch.commands.preflight import check_outputs

    manifest = load(path)
    check_outputs(manifest, manifest.output_dir or default_output_dir(name or manifest.name))
    return manifest


def submit(path: str, *, name: str | None = None, options: SubmitOptions | None = None,
           check_inputs: bool = False, warn: Callable[[str], None] = lambda _: None,
           on_progress: Progress | None = None) -> tuple[int, int]:
    """Validate the manifest, then store it as a batch; returns (batch id, job count).

    A missing token against the real API, an output folder that cannot be written or output
    names that clash are errors before any row is written. With ``check_inputs``, a job whose
    input URL cannot be fetched is stored failed, unsubmitted, and ``warn`` is told why. Unless
    ``force``, the jobs that earlier identical jobs' intact files answer end ``cached`` before
    this returns (``batch.commands.cached``; ``on_progress`` follows that pass).
    """
    settings().check_api()  # a broken setup stops here, before anything is written
    opts = options or SubmitOptions()
    manifest = validate(path, name=name or opts.name)
    _check_variants_piloted(manifest, opts.pilot)
    if check_inputs:
        checked = _check_inputs(manifest)
        opts = replace(opts, validators=checked.validators, unreachable=checked.problems)
        for spec_id, error in input_failures(manifest, checked.problems).items():
            warn(f"job {spec_id}: {error}")
    if manifest.uploads:
        from batch.storage.prepare import upload_inputs

        upload_inputs(manifest)  # every input in its bucket before any job can be submitted
    factory = sessions()
    if opts.force:
        _warn_paid_again(factory, manifest, opts, warn)
    else:
        refused = known_undecodable(factory, manifest)
        opts = replace(opts, refused=refused)
        for spec_id, error in refused.items():
            warn(f"job {spec_id}: {error}")
    batch_id = create_batch(factory, manifest, now=time.time(), name=name, options=opts)
    if not opts.force:
        from batch.commands.cached import finish_cached

        batch = get_batch(factory, batch_id)
        assert batch is not None
        finish_cached(factory, batch_id, batch.output_dir, on_progress=on_progress)
    return batch_id, len(manifest.jobs)


def _check_variants_piloted(manifest: Manifest, pilot: int | None) -> None:
    """InputError when styles list prompt variants but nothing runs a pilot to choose one."""
    with_variants = sorted({spec.style or "" for spec in manifest.jobs if spec.variant})
    if with_variants and pilot is None and manifest.pilot is None:
        raise InputError(f"{manifest.path}: style {with_variants[0]!r} lists prompt variants: a pilot chooses "
                         "one; add a pilot: block (e.g. pilot: {size: 12}) or run with --pilot N")


def _warn_paid_again(factory: sessionmaker[Session], manifest: Manifest, opts: SubmitOptions,
                     warn: Callable[[str], None]) -> None:
    """``--force``: say how many jobs are identical to jobs under way, which it pays for again."""
    from batch.core.fingerprint import fingerprint
    from batch.store import owners

    prints = [fingerprint(spec.inputs, opts.validators) for spec in manifest.jobs]
    with factory() as session:
        in_flight = owners.under_way(session, sorted(set(prints)))
    again = sum(fp in in_flight for fp in prints)
    if again:
        warn(f"{again} jobs are identical to jobs in flight: --force submits them all the same, paid again")


def dry_run(path: str, *, force: bool = False, check_inputs: bool = False, budget_usd: float | None = None,
            pilot: int | None = None) -> Plan:
    """What submitting the manifest would run, reuse and cost, against its budget (``budget_usd``,
    else the manifest's); writes nothing (not even a new database)."""
    from batch.commands.plan import plan
    from batch.commands.preflight import check_outputs
    from batch.core.cost import PriceTable

    manifest = load(path)
    check_outputs(manifest, "", probe=False)
    cfg = settings()
    found = plan(manifest, PriceTable(cfg.price_1k_2k, cfg.price_4k), reading_sessions(),
                 force=force, validators=_check_inputs(manifest).validators if check_inputs else None,
                 pilot=pilot)
    return replace(found, budget_usd=budget_usd if budget_usd is not None else manifest.budget_usd)


def _check_inputs(manifest: Manifest) -> InputCheck:
    import requests

    from batch.upstream.inputs import check_input_urls

    urls = {url for spec in manifest.jobs for url in spec.inputs.get("image_urls", [])}
    return check_input_urls(requests.Session(), urls)


def runtime() -> Runtime:
    """A Runtime for commands that call the API themselves (cancel): the shared limiter if Redis runs."""
    from batch.embedded import redis as redis_server
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
