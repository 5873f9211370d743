"""odd costs kept on the job; SQLite ids never reused

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07 22:30:00

``jobs.odd_cost`` keeps, as JSON text, a cost upstream answered that is no amount of one job
(``1e30``, ``-98.95``): the job's ``cost`` stays empty and the batch's total is not touched.

SQLite gives a new row the largest id + 1: once the newest batch was pruned, the next batch,
its jobs and their outputs took the pruned ones' ids (and old links, notes and scripts named the
new ones). ``AUTOINCREMENT`` never hands an id out twice; the tables are copied to get it (SQLite
cannot alter that in place). PostgreSQL's sequences never reuse ids: nothing changes there.
"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = '0013'
down_revision: Union[str, Sequence[str], None] = '0012'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

TABLES = ('batches', 'jobs', 'outputs')  # the ids people see (commands, report rows, /files/ links)


def _autoincrement(on: bool) -> None:
    if op.get_bind().dialect.name != 'sqlite':
        return
    for table in TABLES:
        with op.batch_alter_table(table, recreate='always', table_kwargs={'sqlite_autoincrement': on}):
            pass


def upgrade() -> None:
    """Add ``jobs.odd_cost``; give SQLite's id columns AUTOINCREMENT."""
    with op.batch_alter_table('jobs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('odd_cost', sa.Text(), nullable=True))
    _autoincrement(True)


def downgrade() -> None:
    """Drop ``jobs.odd_cost``; SQLite's ids back to plain rowids."""
    _autoincrement(False)
    with op.batch_alter_table('jobs', schema=None) as batch_op:
        batch_op.drop_column('odd_cost')
