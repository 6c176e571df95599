"""possible duplicates

A message claimed again while it was still ``sending`` (its worker died or its lease ran out
mid-send) may have reached the far end twice: it is flagged (可能重复), with when the attempt
that was cut off started.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02 06:40:00.000000
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import shared.db

revision: str = '0010'
down_revision: str | None = '0009'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('messages') as batch:
        batch.add_column(
            sa.Column('possible_duplicate', sa.Boolean(), server_default=sa.false(), nullable=False)
        )
        batch.add_column(
            sa.Column('earlier_attempt_at', shared.db.UTCDateTime(timezone=True), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table('messages') as batch:
        batch.drop_column('earlier_attempt_at')
        batch.drop_column('possible_duplicate')
