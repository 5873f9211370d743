"""One bucket of an object store, through ``obstore``: head, upload a file, sign a GET, check access.

Credentials come only from the standard variables (``AWS_ACCESS_KEY_ID``...) or, when none are
set and boto3 is installed, from boto3's chain (``AWS_PROFILE``, ``~/.aws``, SSO). They are
handed to the client and never stored, logged or put in a message: errors name the bucket and
the reason only.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import obstore
from obstore.exceptions import (
    BaseError,
    NotFoundError,
    PermissionDeniedError,
    UnauthenticatedError,
)
from obstore.store import AzureStore, GCSStore, S3Store

from batch.errors import StorageError
from batch.storage.refs import ObjectRef, parse_ref

AWS_KEYS = {"AWS_ACCESS_KEY_ID": "access_key_id", "AWS_SECRET_ACCESS_KEY": "secret_access_key",
            "AWS_SESSION_TOKEN": "token"}
# list and some other calls report every HTTP error as a GenericError: read the status in its text
DENIED = ("403 Forbidden", "401 Unauthorized", "SignatureDoesNotMatch", "InvalidAccessKeyId", "AccessDenied")
MISSING = ("404 Not Found", "NoSuchBucket")
NO_RETRY = {"max_retries": 1, "backoff": {}, "retry_timeout": timedelta(seconds=10)}


@dataclass(frozen=True)
class ObjectInfo:
    """An object as the store describes it."""

    key: str
    size: int
    etag: str | None


class Bucket:
    """A bucket (or container) of one store; keys are full keys inside it."""

    def __init__(self, scheme: str, name: str, store: Any) -> None:
        self.scheme = scheme
        self.name = name
        self._store = store

    def ref(self, key: str) -> str:
        """The stable reference of ``key``: ``s3://bucket/key``."""
        return f"{self.scheme}://{self.name}/{key}"

    def head(self, key: str) -> ObjectInfo | None:
        """The object at ``key``, or None when there is none."""
        try:
            meta = obstore.head(self._store, key)
        except FileNotFoundError:
            return None
        except (BaseError, OSError) as exc:
            raise self._error(exc, key) from None
        return ObjectInfo(key, int(meta["size"]), meta.get("e_tag"))

    def put_file(self, key: str, path: Path) -> ObjectInfo:
        """Upload ``path`` to ``key`` (atomic: the object appears whole or not at all)."""
        try:
            result = obstore.put(self._store, key, path)
        except (BaseError, OSError) as exc:
            raise self._error(exc, key) from None
        return ObjectInfo(key, path.stat().st_size, result.get("e_tag"))

    def put_bytes(self, key: str, data: bytes) -> ObjectInfo:
        """Upload ``data`` to ``key`` (atomic, like ``put_file``)."""
        try:
            result = obstore.put(self._store, key, data)
        except (BaseError, OSError) as exc:
            raise self._error(exc, key) from None
        return ObjectInfo(key, len(data), result.get("e_tag"))

    def delete(self, key: str) -> None:
        """Delete the object at ``key``."""
        try:
            obstore.delete(self._store, key)
        except (BaseError, OSError) as exc:
            raise self._error(exc, key) from None

    @property
    def client(self) -> Any:
        """The obstore store itself, for calls this class does not wrap (benchmarks, tests)."""
        return self._store

    def read(self, key: str) -> bytes:
        """The object's bytes."""
        try:
            return bytes(obstore.get(self._store, key).bytes())
        except (BaseError, OSError) as exc:
            raise self._error(exc, key) from None

    def keys(self, prefix: str) -> list[str]:
        """Every key under ``prefix``, in the store's order."""
        try:
            return [meta["path"] for chunk in obstore.list(self._store, prefix) for meta in chunk]
        except (BaseError, OSError) as exc:
            raise self._error(exc, prefix) from None

    def sign_get(self, key: str, seconds: float) -> str:
        """A pre-signed GET URL for ``key``, valid ``seconds`` from now (no network call)."""
        try:
            return str(obstore.sign(self._store, "GET", key, timedelta(seconds=seconds)))
        except (BaseError, OSError) as exc:
            raise self._error(exc, key) from None

    def check(self, prefix: str = "") -> None:
        """List one object under ``prefix``: raises StorageError for bad credentials or a missing bucket."""
        try:
            next(iter(obstore.list(self._store, prefix or None, chunk_size=1)), None)
        except (BaseError, OSError) as exc:
            raise self._error(exc, prefix) from None

    def _error(self, exc: BaseException, key: str) -> StorageError:
        where = self.ref(key) if key else f"{self.scheme}://{self.name}"
        text = str(exc)
        if "/latest/api/token" in text or "/latest/meta-data" in text:  # no keys, no profile: IMDS failed
            return StorageError(f"{where}: no credentials found (set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, "
                                "or AWS_PROFILE)")
        if isinstance(exc, PermissionDeniedError | UnauthenticatedError) or any(m in text for m in DENIED):
            return StorageError(f"{where}: access denied (check the credentials: AWS_* variables or profile)")
        if isinstance(exc, NotFoundError | FileNotFoundError) or any(m in text for m in MISSING):
            return StorageError(f"{where}: not found (does the bucket exist?)")
        first = text.strip().splitlines()[0] if text.strip() else type(exc).__name__
        return StorageError(f"{where}: {first[:300]}")


def open_store(url: str, *, endpoint_url: str | None = None, region: str | None = None,
               env: Mapping[str, str] | None = None) -> Bucket:
    """The bucket named by ``url`` (``s3://bucket[/prefix]``, ``gs://...``, ``az://...``)."""
    ref = parse_ref(url)
    if ref is None:
        raise StorageError(f"{url!r}: not a bucket reference (s3://, gs:// or az://)")
    return open_bucket(ref, endpoint_url=endpoint_url, region=region, env=env)


def open_bucket(ref: ObjectRef, *, endpoint_url: str | None = None, region: str | None = None,
                env: Mapping[str, str] | None = None) -> Bucket:
    """The bucket of ``ref``, with credentials from ``env`` (default: the process environment)."""
    env = os.environ if env is None else env
    if ref.scheme == "gs":
        return Bucket("gs", ref.bucket, GCSStore(ref.bucket))
    if ref.scheme == "az":
        return Bucket("az", ref.bucket, AzureStore(ref.bucket))
    endpoint = endpoint_url or env.get("AWS_ENDPOINT_URL_S3") or env.get("AWS_ENDPOINT_URL")
    options: dict[str, Any] = {
        "region": region or env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or "us-east-1",
        "retry_config": NO_RETRY,
    }
    if endpoint:
        options.update(endpoint=endpoint, allow_http=endpoint.startswith("http://"),
                       virtual_hosted_style_request=False)
    if env.get("AWS_METADATA_ENDPOINT"):
        options["metadata_endpoint"] = env["AWS_METADATA_ENDPOINT"]
    keys = {name: env[var] for var, name in AWS_KEYS.items() if env.get(var)}
    if keys:
        options.update(keys)
    else:
        provider = _profile_provider(env)
        if provider is not None:
            options["credential_provider"] = provider
    return Bucket("s3", ref.bucket, S3Store(ref.bucket, **options))


def _profile_provider(env: Mapping[str, str]) -> Any:
    """boto3's credential chain (profiles, SSO, instance roles) when boto3 is installed, else None."""
    try:
        import boto3
        from obstore.auth.boto3 import Boto3CredentialProvider
    except ImportError:
        return None
    session = boto3.Session(profile_name=env.get("AWS_PROFILE") or None)
    if session.get_credentials() is None:
        return None
    return Boto3CredentialProvider(session)
