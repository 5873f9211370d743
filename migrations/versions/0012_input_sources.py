"""local inputs as the manifest wrote them

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07 22:30:00

``jobs.input_sources`` keeps, beside each entry of ``inputs.image_urls``, the local path the
manifest gave for it (``photos/sku-900.jpg``), or null for a URL or bucket reference written
as such: errors, reports and the contact sheet show that path rather than the content-named
object (``s3://.../inputs/<sha256>.jpg``) it was uploaded to. Null for jobs without local
inputs, and for existing rows.
"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = '0012'
down_revision: Union[str, Sequence[str], None] = '0011'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    with op.batch_alter_table('jobs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('input_sources', sa.JSON(), nullable=True))


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table('jobs', schema=None) as batch_op:
        batch_op.drop_column('input_sources')
