"""Which batches a worker serves: the filter a scoped tick adds to its claims.

``nanobatch run X`` / ``resume X`` start workers that serve batch X only (``NANOBATCH_RUN_BATCHES``);
shared workers (``nanobatch worker``) serve every batch (no scope: ``None``). A scoped worker also
advances the jobs under way that its batches' jobs wait for (an identical job of another batch pays
for both: ``store.owners``), so that a batch never waits on another ``run`` staying alive.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import aliased

from batch.core.states import JobState
from batch.store.models import Job


def within(batches: Collection[int] | None, where: Any = None) -> Any:
    """``where`` narrowed to the jobs of ``batches``; ``where`` unchanged when every batch is served."""
    if batches is None:
        return where
    ids = sorted(batches)
    twin = aliased(Job)
    waited_for = select(twin.waiting_on).where(twin.batch_id.in_(ids), twin.state == JobState.PENDING.value,
                                               twin.waiting_on.is_not(None))
    mine = or_(Job.batch_id.in_(ids), Job.id.in_(waited_for))
    return mine if where is None else and_(mine, where)


def serves(batches: Collection[int] | None, batch_id: int) -> bool:
    """True when a worker serving ``batches`` (None: every batch) may advance ``batch_id``."""
    return batches is None or batch_id in batches


def scope_name(batches: Collection[int] | None) -> str | None:
    """A name for the workers serving only ``batches`` (None for shared workers, which serve all)."""
    return None if batches is None else "batch-" + "-".join(str(b) for b in sorted(batches))
