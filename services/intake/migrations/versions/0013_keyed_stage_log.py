"""the keyed stage log (环节记录加密钥): each entry names the key of its HMAC

Entries written before have no key id; ``huodian migrate`` re-seals them once, after checking
their unkeyed chain, and records that in each log (services.intake.integrity.upgrade).

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-02
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0013'
down_revision: str | None = '0012'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('application_events') as batch:
        batch.add_column(sa.Column('key_id', sa.String(length=16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('application_events') as batch:
        batch.drop_column('key_id')
