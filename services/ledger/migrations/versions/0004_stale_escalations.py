"""stale-update escalation (更新超期督办): each ledger's N and M, and the steps taken

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import shared.db

revision: str = '0004'
down_revision: str | None = '0003'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('ledgers') as batch:
        batch.add_column(
            sa.Column('stale_after_days', sa.Integer(), nullable=False, server_default='10')
        )
        batch.add_column(
            sa.Column('escalate_after_days', sa.Integer(), nullable=False, server_default='5')
        )
    op.create_table(
        'stale_escalations',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('item_id', sa.Integer(), nullable=False),
        sa.Column(
            'level',
            sa.Enum(
                'unit_head', 'supervisor', name='escalationlevel', native_enum=False, length=32
            ),
            nullable=False,
        ),
        sa.Column('period_start', sa.Date(), nullable=False),
        sa.Column('due_on', sa.Date(), nullable=False),
        sa.Column('fired_on', sa.Date(), nullable=False),
        sa.Column('recorded_at', shared.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column('targets', sa.JSON(), nullable=False),
        sa.Column(
            'outcome',
            sa.Enum(
                'notified',
                'partly_unresolved',
                'unresolved',
                name='escalationoutcome',
                native_enum=False,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column('queued_at', shared.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ['item_id'], ['items.id'], name=op.f('fk_stale_escalations_item_id_items')
        ),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_stale_escalations')),
        sa.UniqueConstraint(
            'item_id', 'level', 'period_start', name='uq_stale_escalations_step'
        ),
    )
    with op.batch_alter_table('stale_escalations') as batch:
        batch.create_index('ix_stale_escalations_fired_on', ['fired_on'], unique=False)
        batch.create_index(
            batch.f('ix_stale_escalations_item_id'), ['item_id'], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table('stale_escalations') as batch:
        batch.drop_index(batch.f('ix_stale_escalations_item_id'))
        batch.drop_index('ix_stale_escalations_fired_on')
    op.drop_table('stale_escalations')
    with op.batch_alter_table('ledgers') as batch:
        batch.drop_column('escalate_after_days')
        batch.drop_column('stale_after_days')
