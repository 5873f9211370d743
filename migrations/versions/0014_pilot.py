"""the pilot: jobs that run first, and the style and prompt variant of each job

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07 23:00:00

``jobs.pilot``: the job belongs to the batch's pilot sample (the rest waits parked for its
approval). ``jobs.style`` and ``jobs.variant``: the matrix style a job comes from and the style's
prompt variant it tries, so that choosing a variant per style cancels the others' waiting jobs.
"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = '0014'
down_revision: Union[str, Sequence[str], None] = '0013'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


# SQLite: should the batch recreate the table, it keeps AUTOINCREMENT (0013), so ids are never reused
KEEP_AUTOINCREMENT = {'sqlite_autoincrement': True}


def upgrade() -> None:
    """Upgrade schema."""
    with op.batch_alter_table('jobs', schema=None, table_kwargs=KEEP_AUTOINCREMENT) as batch_op:
        batch_op.add_column(sa.Column('pilot', sa.Boolean(), server_default=sa.false(), nullable=False))
        batch_op.add_column(sa.Column('style', sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column('variant', sa.String(length=100), nullable=True))


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table('jobs', schema=None, table_kwargs=KEEP_AUTOINCREMENT) as batch_op:
        batch_op.drop_column('variant')
        batch_op.drop_column('style')
        batch_op.drop_column('pilot')
