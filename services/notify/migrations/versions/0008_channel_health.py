"""channel health

The circuit breaker of the delivery worker (渠道熔断): one row per channel that has been down.
Messages get two more states (sending, superseded) in their existing VARCHAR column.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02 02:50:00.000000
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import shared.db

revision: str = '0008'
down_revision: str | None = '0007'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('channel_health',
    sa.Column('channel', sa.String(length=32), nullable=False),
    sa.Column('down_since', shared.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('failures', sa.Integer(), nullable=False),
    sa.Column('next_probe_at', shared.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('channel', name=op.f('pk_channel_health'))
    )


def downgrade() -> None:
    # Messages in the new states go back to states the old code knows.
    op.execute("UPDATE messages SET state = 'queued' WHERE state = 'sending'")
    op.execute("UPDATE messages SET state = 'dead' WHERE state = 'superseded'")
    op.drop_table('channel_health')
