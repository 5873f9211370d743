"""Which batches a worker serves: the filter a scoped tick adds to its claims.

``nanobatch run X`` / ``resume X`` start workers that serve batch X only (``NANOBATCH_RUN_BATCHES``);
shared workers (``nanobatch worker``) serve every batch (no scope: ``None``).
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from sqlalchemy import and_

from batch.store.models import Job


def within(batches: Collection[int] | None, where: Any = None) -> Any:
    """``where`` narrowed to the jobs of ``batches``; ``where`` unchanged when every batch is served."""
    if batches is None:
        return where
    mine = Job.batch_id.in_(sorted(batches))
    return mine if where is None else and_(mine, where)


def serves(batches: Collection[int] | None, batch_id: int) -> bool:
    """True when a worker serving ``batches`` (None: every batch) may advance ``batch_id``."""
    return batches is None or batch_id in batches


def scope_name(batches: Collection[int] | None) -> str | None:
    """A name for the workers serving only ``batches`` (None for shared workers, which serve all)."""
    return None if batches is None else "batch-" + "-".join(str(b) for b in sorted(batches))
