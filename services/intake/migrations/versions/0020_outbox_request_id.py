"""outbox: the request id (请求号) of the transaction that queued each event

Sent to notify as X-Request-Id when the event is delivered, so one application can be followed
in the logs from the portal to the message. Events queued before have none.

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-02
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0020'
down_revision: str | None = '0019'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('outbox_events') as batch:
        batch.add_column(sa.Column('request_id', sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('outbox_events') as batch:
        batch.drop_column('request_id')
