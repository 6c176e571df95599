"""receipts and fallback channels

Every delivery attempt with the provider's receipt (投递尝试与回执), the receipt of the attempt
that sent a message, and the fallback channels (备用渠道) per message type.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02 06:50:00.000000
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import shared.db

revision: str = '0009'
down_revision: str | None = '0008'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_CHANNELS = ('email', 'sms', 'wecom', 'dingtalk', 'webhook')
_OUTCOMES = ('sent', 'failed', 'dead', 'held')
_NOTES = ('queued', 'existing', 'no_rule', 'no_address')


def _enum(values: tuple[str, ...], name: str) -> sa.Enum:
    return sa.Enum(*values, name=name, native_enum=False, length=32)


def upgrade() -> None:
    op.create_table('delivery_attempts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('message_id', sa.Integer(), nullable=False),
    sa.Column('attempt', sa.Integer(), nullable=False),
    sa.Column('channel', _enum(_CHANNELS, 'channel'), nullable=False),
    sa.Column('attempted_at', shared.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('outcome', _enum(_OUTCOMES, 'attemptoutcome'), nullable=False),
    sa.Column('receipt', sa.String(length=200), nullable=True),
    sa.Column('provider_code', sa.String(length=200), nullable=True),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('fallback', _enum(_NOTES, 'fallbacknote'), nullable=True),
    sa.Column('fallback_message_id', sa.Integer(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_delivery_attempts'))
    )
    op.create_index(op.f('ix_delivery_attempts_message_id'), 'delivery_attempts', ['message_id'], unique=False)
    op.create_index(op.f('ix_delivery_attempts_fallback_message_id'), 'delivery_attempts', ['fallback_message_id'], unique=False)
    op.create_table('fallback_channels',
    sa.Column('kind', sa.String(length=64), nullable=False),
    sa.Column('channel', sa.String(length=32), nullable=False),
    sa.Column('fallback', sa.String(length=32), nullable=False),
    sa.Column('updated_at', shared.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_by', sa.String(length=100), nullable=False),
    sa.PrimaryKeyConstraint('kind', 'channel', name=op.f('pk_fallback_channels'))
    )
    with op.batch_alter_table('messages') as batch:
        batch.add_column(sa.Column('receipt', sa.String(length=200), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('messages') as batch:
        batch.drop_column('receipt')
    op.drop_table('fallback_channels')
    op.drop_index(op.f('ix_delivery_attempts_fallback_message_id'), table_name='delivery_attempts')
    op.drop_index(op.f('ix_delivery_attempts_message_id'), table_name='delivery_attempts')
    op.drop_table('delivery_attempts')
