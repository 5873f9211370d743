"""Turning a job's bucket references into pre-signed GET URLs, just before the submit's POST.

The job row keeps the stable reference (so its fingerprint is the same from run to run); each
submit, resume or retry signs afresh. An upstream failure to fetch a signed input (an expired
URL, after a long wait in upstream's queue) is worth a new signature and a new submit.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Mapping
from typing import Any

from batch.storage.config import DEFAULT_URL_EXPIRY, StorageConfig
from batch.storage.refs import ObjectRef, parse_ref
from batch.storage.store import Bucket, open_bucket

_FETCH_FAILED = re.compile(r"fetch|expired|access ?denied|\b403\b", re.IGNORECASE)
_buckets: dict[tuple[str, str, str | None, str | None], Bucket] = {}
_lock = threading.Lock()


def has_refs(inputs: Mapping[str, Any]) -> bool:
    """True when an input image is a bucket reference (to be signed)."""
    return any(parse_ref(url) is not None for url in inputs.get("image_urls") or ())


Connection = StorageConfig | Mapping[str, Any] | None  # a manifest's storage block, or a batch's stored copy


def signed_inputs(inputs: dict[str, Any], storage: Mapping[str, Any] | None) -> dict[str, Any]:
    """``inputs`` with every bucket reference in ``image_urls`` replaced by a fresh pre-signed GET URL.

    ``storage``: the batch's storage options (endpoint, region, expiry). Inputs without
    references are returned as they are (no copy).
    """
    urls = inputs.get("image_urls")
    if not urls or not has_refs(inputs):
        return inputs
    config = StorageConfig.from_options(storage)
    expiry = config.url_expiry_seconds if config else DEFAULT_URL_EXPIRY
    return {**inputs, "image_urls": [_sign(url, config, expiry) for url in urls]}


def _sign(url: str, config: StorageConfig | None, expiry: float) -> str:
    ref = parse_ref(url)
    if ref is None:
        return url
    return bucket_for(ref.scheme, ref.bucket, config).sign_get(ref.key, expiry)


def bucket_for(scheme: str, name: str, connection: Connection) -> Bucket:
    """The (cached) client for a bucket: THE place its connection settings are resolved, for every caller.

    ``connection``: the manifest's ``storage:`` block (or the copy kept in the batch row's options,
    as a mapping) of the batch the object belongs to. Its endpoint and region come first; the
    environment (``AWS_ENDPOINT_URL``, ``AWS_REGION``...) fills what it leaves out, and gives the
    credentials, which a manifest never holds.
    """
    config = connection if isinstance(connection, StorageConfig) or connection is None \
        else StorageConfig.from_options(connection)
    endpoint = config.endpoint_url if config else None
    region = config.region if config else None
    key = (scheme, name, endpoint, region)
    with _lock:
        bucket = _buckets.get(key)
        if bucket is None:
            bucket = _buckets[key] = open_bucket(ObjectRef(scheme, name, ""), endpoint_url=endpoint, region=region)
        return bucket


def forget_clients() -> None:
    """Drop the cached clients (after the credentials in the environment changed)."""
    with _lock:
        _buckets.clear()


def input_fetch_failed(inputs: Mapping[str, Any], error: str | None) -> bool:
    """True when upstream failed the job fetching a signed input: sign again rather than fail."""
    return bool(error) and has_refs(inputs) and _FETCH_FAILED.search(error or "") is not None
