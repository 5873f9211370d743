"""the contact sheet's index: each job's item, style and place in the sheet's orders

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-07 22:50:00

``nanobatch serve`` read every job of a batch and sorted them in Python on each page (1.25 s for
a page of a 30,000-job batch). ``sheet_entries`` holds each job's item and style and its rank in
the sheet's orders, filled by the web app for the jobs it has not indexed yet, so that a page is
one query on an index.
"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = '0015'
down_revision: Union[str, Sequence[str], None] = '0014'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table(
        'sheet_entries',
        sa.Column('job_id', sa.Integer(), sa.ForeignKey('jobs.id', ondelete='CASCADE'), primary_key=True),
        sa.Column('batch_id', sa.Integer(), sa.ForeignKey('batches.id', ondelete='CASCADE'), nullable=False),
        sa.Column('item_hash', sa.String(64), nullable=False),
        sa.Column('item', sa.Text(), nullable=False),
        sa.Column('item_label', sa.Text(), nullable=False),
        sa.Column('item_rank', sa.Integer(), nullable=False),
        sa.Column('style', sa.String(300), nullable=False),
        sa.Column('style_rank', sa.Integer(), nullable=False),
        sa.Column('root', sa.String(300), nullable=False),
        sa.Column('attempt', sa.Integer(), nullable=False),
    )
    op.create_index('ix_sheet_item_order', 'sheet_entries', ['batch_id', 'item_rank', 'root', 'attempt', 'job_id'])
    op.create_index('ix_sheet_style_order', 'sheet_entries', ['batch_id', 'style_rank', 'root', 'attempt', 'job_id'])
    op.create_index('ix_sheet_plain_order', 'sheet_entries', ['batch_id', 'root', 'attempt', 'job_id'])
    op.create_index('ix_sheet_item_hash', 'sheet_entries', ['batch_id', 'item_hash'])
    op.create_index('ix_sheet_batch_job', 'sheet_entries', ['batch_id', 'job_id'])


def downgrade() -> None:
    op.drop_table('sheet_entries')
