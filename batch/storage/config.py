"""Where a batch keeps its inputs and how long signed URLs live: the manifest's ``storage:`` block.

Kept in the batch row's options (as plain values) so that every worker signs the same way;
credentials are never part of it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from batch.storage.refs import ObjectRef, parse_ref

# Signed URLs must outlive the wait in upstream's queue (the service fetches inputs when a job
# starts, not when it is submitted); one that expires anyway is signed again and resubmitted.
DEFAULT_URL_EXPIRY = 6 * 3600
MIN_URL_EXPIRY = 60
MAX_URL_EXPIRY = 7 * 24 * 3600  # SigV4's ceiling
INPUTS_FOLDER = "inputs"


@dataclass(frozen=True)
class StorageConfig:
    """``url`` (``s3://bucket/prefix``), ``endpoint_url`` and ``region`` for S3-compatible stores."""

    url: str
    endpoint_url: str | None = None
    region: str | None = None
    url_expiry_seconds: int = DEFAULT_URL_EXPIRY

    @property
    def location(self) -> ObjectRef:
        """The bucket and prefix as a reference."""
        ref = parse_ref(self.url)
        if ref is None:
            raise ValueError(f"not a bucket reference: {self.url!r}")
        return ref

    def input_ref(self, sha256: str, suffix: str) -> ObjectRef:
        """Where a local input with this content goes: ``<prefix>/inputs/<sha256><suffix>``."""
        return self.location.child(f"{INPUTS_FOLDER}/{sha256}{suffix.lower()}")

    def as_options(self) -> dict[str, Any]:
        """Plain values for the batch row."""
        return asdict(self)

    @classmethod
    def from_options(cls, values: Mapping[str, Any] | None) -> StorageConfig | None:
        """The config stored by ``as_options`` (None when the batch has none)."""
        if not values:
            return None
        return cls(**{k: values[k] for k in ("url", "endpoint_url", "region", "url_expiry_seconds") if k in values})
