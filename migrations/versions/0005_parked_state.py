"""jobs held back by a reached budget are in their own state, ``parked``

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30 10:10:00

Until now a job the budget stopped stayed ``pending`` with ``next_action_at`` pushed to 1e12
(a time no tick reaches) and the reason in ``batches.options["parked"]``. It is now a state of
its own, entered and left by transitions (``store.park_pending``, ``store.unpark``). Existing
parked jobs move to ``parked`` with an event row each, as every transition has; the reason stays
on the batch. No column changes. Downgrade puts them back as far-future ``pending``.
"""
import time
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = '0005'
down_revision: Union[str, Sequence[str], None] = '0004'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

FAR_FUTURE = 1e12  # the old marker of a parked job (``store.jobs.FAR_FUTURE`` as it was)


def _log_moves(source: str, target: str, detail: str, where: str = "") -> None:
    """An event row for every job in ``source`` (and matching ``where``) about to move to ``target``.

    The two states are this file's own constants, written into the statement: as parameters,
    PostgreSQL would have to type one as both the text of a column and a varchar to compare.
    """
    op.get_bind().execute(
        sa.text("INSERT INTO job_events (job_id, from_state, to_state, at, detail) "
                f"SELECT id, '{source}', '{target}', :at, :detail FROM jobs WHERE state = '{source}' {where}"),
        {"at": time.time(), "detail": detail, **({"far": FAR_FUTURE} if where else {})},
    )


def upgrade() -> None:
    """Far-future pending jobs become parked."""
    _log_moves('pending', 'parked', 'migration 0005: parked is a state now', 'AND next_action_at >= :far')
    op.get_bind().execute(
        sa.text("UPDATE jobs SET state = 'parked', lease_owner = NULL, lease_until = NULL "
                "WHERE state = 'pending' AND next_action_at >= :far"),
        {"far": FAR_FUTURE},
    )


def downgrade() -> None:
    """Parked jobs become far-future pending jobs again."""
    _log_moves('parked', 'pending', 'migration 0005 undone: parked as a far-future pending job')
    op.get_bind().execute(
        sa.text("UPDATE jobs SET state = 'pending', next_action_at = :far, lease_owner = NULL, lease_until = NULL "
                "WHERE state = 'parked'"),
        {"far": FAR_FUTURE},
    )
