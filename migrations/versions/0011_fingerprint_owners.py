"""one payer per unique job across batches

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07 22:20:00

``fingerprint_owners``: which job pays for a fingerprint while it is under way; its primary key
is how two identical jobs submitted at once agree on one payer. ``jobs.waiting_on``: the job an
identical pending job waits for instead of paying again.
"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = '0011'
down_revision: Union[str, Sequence[str], None] = '0010'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table(
        'fingerprint_owners',
        sa.Column('fingerprint', sa.String(length=64), nullable=False),
        sa.Column('job_id', sa.Integer(), nullable=False),
        sa.Column('taken_at', sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(['job_id'], ['jobs.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('fingerprint'),
    )
    op.create_index(op.f('ix_fingerprint_owners_job_id'), 'fingerprint_owners', ['job_id'], unique=False)
    with op.batch_alter_table('jobs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('waiting_on', sa.Integer(), nullable=True))


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table('jobs', schema=None) as batch_op:
        batch_op.drop_column('waiting_on')
    op.drop_index(op.f('ix_fingerprint_owners_job_id'), table_name='fingerprint_owners')
    op.drop_table('fingerprint_owners')
