"""when upstream gave a job its queue position

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25 15:10:00

``jobs.position_at`` is the time of the status answer that gave ``queue_position``. Two such
sightings tell how fast upstream's queue moves, and so when the jobs behind them will be done
(``batch.timing.QueueModel``). Existing rows have none: their positions were not timed.
``ix_jobs_batch_submitted`` finds a job's place in its batch's submit order without a scan.
"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = '0004'
down_revision: Union[str, Sequence[str], None] = '0003'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    with op.batch_alter_table('jobs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('position_at', sa.Float(), nullable=True))
        batch_op.create_index('ix_jobs_batch_submitted', ['batch_id', 'submitted_at'], unique=False)


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table('jobs', schema=None) as batch_op:
        batch_op.drop_index('ix_jobs_batch_submitted')
        batch_op.drop_column('position_at')
