"""``nanobatch doctor``: is everything a night's batch needs in place? One result per check.

Each check is a plain function returning a ``CheckResult`` (``ok``, ``fail`` or ``skip``, and a
one-line detail); ``run_checks`` runs them in order and the command exits 0 only when none failed.
Nothing here costs money or leaves anything behind: the token is tried with the status of a
request id that cannot exist (404 means the token was accepted, 401 that it was refused), the
bucket probe deletes the object it wrote, and a database that does not exist yet is not created.

Free space is weighed against the batch's expected size: its jobs times ``OUTPUT_BYTES``, a
generous estimate of one output file by resolution and format (the API returns one image per
job; PNG at 4K is the largest), or ``NANOBATCH_OUTPUT_BYTES`` when set. ``SPACE_MARGIN`` more is
asked for, for temp files and reports.
"""

from __future__ import annotations

import shutil
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from batch import errors
from batch.config import Settings
from batch.manifest import Manifest

OK, FAIL, SKIP = "ok", "fail", "skip"
MB = 1024 * 1024
OUTPUT_BYTES: dict[tuple[str, str], int] = {  # (resolution, output_format) -> bytes of one output, rounded up
    ("1K", "png"): 3 * MB, ("2K", "png"): 10 * MB, ("4K", "png"): 40 * MB,
    ("1K", "jpeg"): 1 * MB, ("2K", "jpeg"): 3 * MB, ("4K", "jpeg"): 10 * MB,
    ("1K", "webp"): 1 * MB, ("2K", "webp"): 3 * MB, ("4K", "webp"): 10 * MB,
}
SPACE_MARGIN = 1.10
SLOW_API_SECONDS = 5.0  # an answer slower than this to a status call fails the latency check
PROBE_REQUEST_ID = "nanobatch-doctor-00000000"


@dataclass(frozen=True)
class CheckResult:
    """One check: its name, ``ok``/``fail``/``skip``, a one-line detail and, if measured, seconds taken."""

    name: str
    status: str
    detail: str
    seconds: float | None = None

    def as_json(self) -> dict[str, Any]:
        """The check as ``--json`` prints it."""
        return asdict(self)


def run_checks(settings: Settings, manifest_path: str | None = None) -> list[CheckResult]:
    """Every check, in order: API (token, latency), broker, database, manifest (buckets, space), schedules."""
    results = check_api(settings)
    results += [check_broker(settings), check_database(settings)]
    results += check_manifest(manifest_path, settings.output_bytes) if manifest_path else []
    results.append(check_schedules(settings))
    return results


def passed(results: list[CheckResult]) -> bool:
    """True when no check failed (skipped ones do not count against)."""
    return all(r.status != FAIL for r in results)


def check_api(settings: Settings, *, clock: Callable[[], float] = time.monotonic) -> list[CheckResult]:
    """``token`` and ``api latency``: GET the status of a request id that cannot exist (free).

    404 means the token was accepted; 401/403 that it was refused; anything else is reported.
    """
    from batch.upstream.client import ApiClient

    try:
        token = settings.check_api()
    except errors.ConfigError as exc:
        return [CheckResult("token", FAIL, str(exc)), CheckResult("api latency", SKIP, "no usable API setup")]
    client = ApiClient(settings.api_base, token, timeout=settings.http_timeout)
    began = clock()
    try:
        client.status(PROBE_REQUEST_ID)
        answer: errors.ApiError | None = None
    except errors.ApiError as exc:
        answer = exc
    took = round(clock() - began, 4)
    where = settings.api_base
    if isinstance(answer, errors.NotFound):
        token_check = CheckResult("token", OK, f"accepted by {where} (an unknown request id answered 404)")
    elif isinstance(answer, errors.AuthError):
        token_check = CheckResult("token", FAIL, f"refused by {where}: {answer}")
    elif answer is None:
        token_check = CheckResult("token", FAIL, f"{where} answered 200 for a request id that cannot exist")
    else:
        token_check = CheckResult("token", FAIL, f"{where}: {answer}")
        return [token_check, CheckResult("api latency", FAIL, "no answer to time", took)]
    slow = took > SLOW_API_SECONDS
    latency = CheckResult("api latency", FAIL if slow else OK,
                          f"{took * 1000:.0f} ms" + (f" (slower than {SLOW_API_SECONDS:g} s)" if slow else ""), took)
    return [token_check, latency]


def check_broker(settings: Settings) -> CheckResult:
    """``broker``: PING the configured Redis; the embedded one answers, or its server binary is there."""
    from batch.embedded import redis as redis_server
    from batch.embedded.health import broker_check, safe_url

    if settings.redis_url:
        shown = safe_url(settings.redis_url)
        if broker_check(settings.redis_url)():
            return CheckResult("broker", OK, f"{shown} answers")
        return CheckResult("broker", FAIL, f"{shown} does not answer PING")
    if redis_server.is_running(settings.home):
        return CheckResult("broker", OK, "the embedded server answers")
    try:
        binary = redis_server.server_binary()
    except errors.ConfigError as exc:
        return CheckResult("broker", FAIL, str(exc))
    return CheckResult("broker", OK, f"embedded, not running (started when needed: {Path(binary).name} found)")


def check_database(settings: Settings) -> CheckResult:
    """``database``: it answers and its migrations are at head (a database not created yet passes)."""
    from sqlalchemy.engine import make_url

    from batch.store import db

    shown = make_url(settings.db_url).render_as_string(hide_password=True)
    if settings.database_url is None and not (settings.home / "nanobatch.db").exists():
        return CheckResult("database", OK, f"{shown}: not created yet (the first submit creates it)")
    if not db.answers(settings.db_url):
        return CheckResult("database", FAIL, f"{shown} does not answer")
    stored, head = db.revisions(db.get_engine(settings.db_url))
    if stored is None:
        return CheckResult("database", OK, f"{shown} answers, empty (the first submit creates the tables)")
    if stored != head:
        return CheckResult("database", FAIL, f"{shown} answers, schema at revision {stored}, this nanobatch "
                                             f"expects {head} (the next command that writes migrates it)")
    return CheckResult("database", OK, f"{shown} answers, migrations at head ({head})")


def check_manifest(path: str, output_bytes: int | None = None) -> list[CheckResult]:
    """``manifest``, then ``bucket`` (credentials and a write probe) and ``free space`` for its batch."""
    from batch.manifest import load_manifest

    try:
        manifest = load_manifest(path)
    except errors.ManifestError as exc:
        first = exc.problems[0] if exc.problems else "invalid"
        more = f" (and {len(exc.problems) - 1} more: run validate)" if len(exc.problems) > 1 else ""
        return [CheckResult("manifest", FAIL, f"{first}{more}")]
    return [CheckResult("manifest", OK, f"{path}: {len(manifest.jobs)} jobs"), *check_buckets(manifest),
            check_space(manifest, output_bytes)]


def check_buckets(manifest: Manifest) -> list[CheckResult]:
    """``bucket``: each bucket the batch reads is listed; those it writes to (``storage.url``, an
    ``output_dir`` in a bucket) take a small object, which is deleted again."""
    from batch.storage.prepare import bucket_places
    from batch.storage.refs import parse_ref
    from batch.storage.signing import bucket_for

    writes = [ref for ref in (manifest.storage.location if manifest.storage else None,
                              parse_ref(manifest.output_url)) if ref is not None]
    places = bucket_places(manifest)
    if not places:
        return [CheckResult("bucket", SKIP, "the manifest names no bucket")]
    results = []
    for ref, _, _ in places:
        probe = ref.child(f".nanobatch-doctor-{uuid.uuid4().hex[:12]}")
        written = any(w.scheme == ref.scheme and w.bucket == ref.bucket for w in writes)
        try:
            bucket = bucket_for(ref.scheme, ref.bucket, manifest.storage)
            bucket.check(ref.key)
            if written:
                bucket.put_bytes(probe.key, b"nanobatch doctor write probe\n")
                bucket.delete(probe.key)
        except errors.StorageError as exc:
            results.append(CheckResult("bucket", FAIL, str(exc)))
        else:
            done = "write probe written and deleted" if written else "read access"
            results.append(CheckResult("bucket", OK, f"{ref}: credentials accepted, {done}"))
    return results


def expected_bytes(manifest: Manifest, output_bytes: int | None = None) -> int:
    """The batch's expected output size: one estimate per job (``output_bytes``, else ``OUTPUT_BYTES``)."""
    if output_bytes is not None:
        return output_bytes * len(manifest.jobs)
    largest = OUTPUT_BYTES[("4K", "png")]
    return sum(OUTPUT_BYTES.get((str(spec.inputs.get("resolution", "1K")),
                                 str(spec.inputs.get("output_format", "png"))), largest) for spec in manifest.jobs)


def check_space(manifest: Manifest, output_bytes: int | None = None) -> CheckResult:
    """``free space``: where the outputs go (its nearest existing folder) holds the expected size and a margin."""
    from batch.commands.batches import default_output_dir

    folder = Path(manifest.output_dir or default_output_dir(manifest.name))
    existing = next((p for p in (folder, *folder.parents) if p.is_dir()), Path("/"))
    available = shutil.disk_usage(existing).free
    needed = int(expected_bytes(manifest, output_bytes) * SPACE_MARGIN)
    detail = f"{_size(available)} free at {existing}, the batch needs about {_size(needed)}"
    return CheckResult("free space", OK if available >= needed else FAIL, detail)


def _size(count: int) -> str:
    return f"{count / MB:,.0f} MB" if count < 10 * 1024 * MB else f"{count / (1024 * MB):,.1f} GB"


def check_schedules(settings: Settings) -> CheckResult:
    """``schedules``: the schedules file (NANOBATCH_SCHEDULES) parses, when one is set."""
    from batch.schedules.file import load_schedules

    if settings.schedules_file is None:
        return CheckResult("schedules", SKIP, "NANOBATCH_SCHEDULES is not set")
    try:
        schedules = load_schedules(settings.schedules_file)
    except errors.ManifestError as exc:
        return CheckResult("schedules", FAIL, str(exc.problems[0]) if exc.problems else "invalid")
    return CheckResult("schedules", OK, f"{settings.schedules_file}: {len(schedules)} schedules")
