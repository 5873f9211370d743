"""Recent batches at a glance (``nanobatch status`` with no batch): the reads are in
``batch.store.queries``; ``cli/`` still imports them from here."""

from __future__ import annotations

from batch.core.progress import iso_utc
from batch.store.queries import DEFAULT_LIMIT, BatchSummary, list_batches

__all__ = ["DEFAULT_LIMIT", "BatchSummary", "iso_utc", "list_batches"]
