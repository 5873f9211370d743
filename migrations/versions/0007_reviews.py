"""reviews of outputs, and reruns of rejected jobs

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30 10:10:00

``reviews``: one row per decision (approved or rejected) on a job or one of its outputs, with
who, when and a note; the latest row of a job wins, the earlier ones are its history.
``reruns``: a new job made to redo a rejected one, linked to it (the old job and files stay).
"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = '0007'
down_revision: Union[str, Sequence[str], None] = '0006'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table(
        'reviews',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('job_id', sa.Integer(), nullable=False),
        sa.Column('idx', sa.Integer(), nullable=True),
        sa.Column('decision', sa.String(length=10), nullable=False),
        sa.Column('note', sa.Text(), nullable=True),
        sa.Column('who', sa.String(length=100), nullable=False),
        sa.Column('at', sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(['job_id'], ['jobs.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_reviews_job', 'reviews', ['job_id', 'id'], unique=False)
    op.create_table(
        'reruns',
        sa.Column('job_id', sa.Integer(), nullable=False),
        sa.Column('rerun_of', sa.Integer(), nullable=False),
        sa.Column('at', sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(['job_id'], ['jobs.id'], ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['rerun_of'], ['jobs.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('job_id'),
    )
    op.create_index(op.f('ix_reruns_rerun_of'), 'reruns', ['rerun_of'], unique=False)


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_index(op.f('ix_reruns_rerun_of'), table_name='reruns')
    op.drop_table('reruns')
    op.drop_index('ix_reviews_job', table_name='reviews')
    op.drop_table('reviews')
