"""revoked sessions (已退出的会话): one sign-in ended, until its token expires

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import shared.db

revision: str = '0007'
down_revision: str | None = '0006'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'revoked_sessions',
        sa.Column('session_id', sa.String(length=64), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('expires_at', shared.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ['user_id'], ['users.id'], name=op.f('fk_revoked_sessions_user_id_users')
        ),
        sa.PrimaryKeyConstraint('session_id', name=op.f('pk_revoked_sessions')),
    )
    with op.batch_alter_table('revoked_sessions') as batch:
        batch.create_index(batch.f('ix_revoked_sessions_expires_at'), ['expires_at'], unique=False)
        batch.create_index(batch.f('ix_revoked_sessions_user_id'), ['user_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('revoked_sessions') as batch:
        batch.drop_index(batch.f('ix_revoked_sessions_user_id'))
        batch.drop_index(batch.f('ix_revoked_sessions_expires_at'))
    op.drop_table('revoked_sessions')
