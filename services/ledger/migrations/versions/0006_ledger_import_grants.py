"""ledger import grants (待确认的导入): a clean preview's token hash, admin and file

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import shared.db

revision: str = '0006'
down_revision: str | None = '0005'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'ledger_import_grants',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('token_hash', sa.String(length=64), nullable=False),
        sa.Column('admin', sa.String(length=200), nullable=False),
        sa.Column('file_sha256', sa.String(length=64), nullable=False),
        sa.Column('filename', sa.String(length=255), nullable=False),
        sa.Column('content', sa.LargeBinary(), nullable=False),
        sa.Column('code', sa.String(length=64), nullable=False),
        sa.Column('name', sa.String(length=200), nullable=False),
        sa.Column('issuer', sa.String(length=200), nullable=False),
        sa.Column('document_no', sa.String(length=100), nullable=False),
        sa.Column('plan_end', sa.Date(), nullable=True),
        sa.Column('issued_at', shared.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column('expires_at', shared.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column('used_at', shared.db.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_ledger_import_grants')),
        sa.UniqueConstraint('token_hash', name=op.f('uq_ledger_import_grants_token_hash')),
    )
    with op.batch_alter_table('ledger_import_grants') as batch:
        batch.create_index(
            batch.f('ix_ledger_import_grants_expires_at'), ['expires_at'], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table('ledger_import_grants') as batch:
        batch.drop_index(batch.f('ix_ledger_import_grants_expires_at'))
    op.drop_table('ledger_import_grants')
