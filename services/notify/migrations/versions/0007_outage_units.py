"""outages belong to units

Every outage gets the unit (单位) whose dispatchers may act on it. Notify does not know which
units the dispatchers who drafted the existing outages had (users live in ledger, and an outage
keeps only the drafter's username), so existing rows keep a null unit: they are administrators'
only until an administrator hands each to its unit (``PUT /outages/{id}/unit``). Guessing a unit
would give one unit's dispatchers another unit's outages, which is what this change stops.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02 02:50:00.000000
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0007'
down_revision: str | None = '0006'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('outages', schema=None) as batch_op:
        batch_op.add_column(sa.Column('unit', sa.String(length=100), nullable=True))
        batch_op.create_index(batch_op.f('ix_outages_unit'), ['unit'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('outages', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_outages_unit'))
        batch_op.drop_column('unit')
