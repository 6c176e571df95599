"""ledgers can be archived (台账归档): who, when and why; the history stays

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import shared.db

revision: str = '0003'
down_revision: str | None = '0002'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('ledgers') as batch:
        batch.add_column(
            sa.Column('archived_at', shared.db.UTCDateTime(timezone=True), nullable=True)
        )
        batch.add_column(sa.Column('archived_by', sa.String(length=64), nullable=True))
        batch.add_column(
            sa.Column('archive_reason', sa.Text(), nullable=False, server_default='')
        )


def downgrade() -> None:
    with op.batch_alter_table('ledgers') as batch:
        batch.drop_column('archive_reason')
        batch.drop_column('archived_by')
        batch.drop_column('archived_at')
