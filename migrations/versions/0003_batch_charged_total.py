"""a running total of the dollars charged per batch

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25 13:15:00

``batches.charged_usd`` is raised in the transaction that records a job's cost, so that the
budget check before each submit reads one row instead of summing the whole batch. Existing
batches start from the sum of their jobs' recorded costs.
"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = '0003'
down_revision: Union[str, Sequence[str], None] = '0002'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    with op.batch_alter_table('batches', schema=None) as batch_op:
        batch_op.add_column(sa.Column('charged_usd', sa.Float(), nullable=False, server_default='0'))
    op.execute("UPDATE batches SET charged_usd = "
               "(SELECT COALESCE(SUM(cost), 0) FROM jobs WHERE jobs.batch_id = batches.id)")


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table('batches', schema=None) as batch_op:
        batch_op.drop_column('charged_usd')
