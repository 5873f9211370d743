"""the raw /result answer of a finished job

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-30 10:30:00

``jobs.result_raw`` keeps upstream's answer to ``/result`` once the job has finished there
(succeeded, failed or cancelled), as it came: a paid result whose outputs nanobatch could not
read can then be read again by a later version, without paying for the job twice. Existing
rows have none.
"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = '0008'
down_revision: Union[str, Sequence[str], None] = '0007'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    with op.batch_alter_table('jobs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('result_raw', sa.JSON(), nullable=True))


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table('jobs', schema=None) as batch_op:
        batch_op.drop_column('result_raw')
