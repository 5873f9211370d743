"""money in exact units: integer micro-dollars

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-30 10:50:00

``jobs.cost``, ``batches.charged_usd`` and ``batches.budget_usd`` were floats: a batch of forty
$0.15 jobs added up to $6.0000000000000036. They become BIGINT micro-dollars (``store.models.Micros``
reads them back as exact Decimal dollars); each value is rounded to the nearest micro-dollar.
The column names stay, so that no query changes. Downgrade turns them back into float dollars.
"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = '0010'
down_revision: Union[str, Sequence[str], None] = '0009'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

MICROS = 1_000_000
# (table, column, nullable, server default)
COLUMNS = [
    ('jobs', 'cost', True, None),
    ('batches', 'charged_usd', False, '0'),
    ('batches', 'budget_usd', True, None),
]


def _retype(to_micros: bool) -> None:
    for table, column, nullable, default in COLUMNS:
        old, new = (sa.Float(), sa.BigInteger()) if to_micros else (sa.BigInteger(), sa.Float())
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.alter_column(column, existing_type=old, type_=new, existing_nullable=nullable,
                                  existing_server_default=default,
                                  postgresql_using=f"ROUND({column})::bigint" if to_micros else None)


def _rescale(expression: str) -> None:
    for table, column, _, _ in COLUMNS:
        op.execute(f"UPDATE {table} SET {column} = {expression.format(c=column)} WHERE {column} IS NOT NULL")


def upgrade() -> None:
    """Float dollars -> integer micro-dollars: scaled while still floats, then retyped."""
    _rescale(f"ROUND({{c}} * {MICROS})")
    _retype(True)


def downgrade() -> None:
    """Integer micro-dollars -> float dollars: retyped first, so that the division keeps its fraction."""
    _retype(False)
    _rescale(f"{{c}} / {float(MICROS)}")
