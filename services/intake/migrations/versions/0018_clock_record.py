"""the calendar and the warning share on the record

Calendar rows get one HMAC per field (``seals``) and the key id; ``clock_parameters`` holds the
loaded years and the warning share, each sealed. Rows loaded before this are sealed by
``huodian migrate`` (after the migrations), which needs the keyring: not done here.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-02 06:50:00.000000
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import shared.db

revision: str = '0018'
down_revision: str | None = '0017'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('calendar_years') as batch:
        batch.add_column(sa.Column('key_id', sa.String(length=32), nullable=True))
        batch.add_column(sa.Column('seals', sa.JSON(), nullable=True))
    op.create_table('clock_parameters',
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('value', sa.Text(), nullable=False),
    sa.Column('recorded_at', shared.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('recorded_by', sa.String(length=100), nullable=False),
    sa.Column('key_id', sa.String(length=32), nullable=False),
    sa.Column('mac', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_clock_parameters'))
    )


def downgrade() -> None:
    op.drop_table('clock_parameters')
    with op.batch_alter_table('calendar_years') as batch:
        batch.drop_column('seals')
        batch.drop_column('key_id')
