"""Where ``cli/`` and ``bench/common.py`` still import the batch names from (their owners switch to
the new homes): creating a batch is ``batch.store.batches``, its status ``batch.store.queries``,
the fingerprint ``batch.core.fingerprint``."""

from __future__ import annotations

from batch.core.fingerprint import fingerprint
from batch.store.batches import SubmitOptions, create_batch, default_output_dir
from batch.store.queries import BatchStatus, batch_status, latest_batch_id

__all__ = ["BatchStatus", "SubmitOptions", "batch_status", "create_batch", "default_output_dir", "fingerprint",
           "latest_batch_id"]
