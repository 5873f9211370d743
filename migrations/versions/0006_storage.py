"""outputs copied to a bucket: the object's reference, size and ETag

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30 10:40:00

A batch whose ``output_dir`` is ``s3://bucket/prefix`` (or gs://, az://) keeps each verified file
on local disk as before and uploads it; the output row records where the object is, the size the
store reported after the upload, and its ETag. Rows of local outputs leave them empty.
"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = '0006'
down_revision: Union[str, Sequence[str], None] = '0005'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    with op.batch_alter_table('outputs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('object_url', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('object_bytes', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('object_etag', sa.String(length=200), nullable=True))


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table('outputs', schema=None) as batch_op:
        batch_op.drop_column('object_etag')
        batch_op.drop_column('object_bytes')
        batch_op.drop_column('object_url')
