"""portal key scopes (接入权限)

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-27
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0010'
down_revision: str | None = '0009'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ALL_SCOPES = ['applications', 'projects', 'approvals']
"""Keys issued before scopes existed could call every portal route; they keep doing so."""


def upgrade() -> None:
    with op.batch_alter_table('portal_clients', schema=None) as batch_op:
        batch_op.add_column(sa.Column('scopes', sa.JSON(), nullable=True))
    clients = sa.table('portal_clients', sa.column('scopes', sa.JSON()))
    op.execute(clients.update().values(scopes=ALL_SCOPES))
    with op.batch_alter_table('portal_clients', schema=None) as batch_op:
        batch_op.alter_column('scopes', existing_type=sa.JSON(), nullable=False)


def downgrade() -> None:
    with op.batch_alter_table('portal_clients', schema=None) as batch_op:
        batch_op.drop_column('scopes')
