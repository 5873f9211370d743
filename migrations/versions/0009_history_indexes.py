"""indexes that keep a new batch's work flat as history grows

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-30 10:45:00

The cache's lookup (``batch.store.outputs.finished_with`` / ``newest_finished``: the newest
succeeded or cached jobs of a fingerprint) sorts by ``finished_at``; a fingerprint rerun every
night has hundreds of such rows. ``ix_jobs_fingerprint_finished`` (fingerprint, state,
finished_at) answers it from the index alone, and takes the place of ``ix_jobs_fingerprint``
(fingerprint, state), its prefix.
"""
from typing import Sequence, Union

from alembic import op


# revision identifiers, used by Alembic.
revision: str = '0009'
down_revision: Union[str, Sequence[str], None] = '0008'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    with op.batch_alter_table('jobs', schema=None) as batch_op:
        batch_op.create_index('ix_jobs_fingerprint_finished', ['fingerprint', 'state', 'finished_at'], unique=False)
        batch_op.drop_index('ix_jobs_fingerprint')


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table('jobs', schema=None) as batch_op:
        batch_op.create_index('ix_jobs_fingerprint', ['fingerprint', 'state'], unique=False)
        batch_op.drop_index('ix_jobs_fingerprint_finished')
