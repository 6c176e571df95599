"""messages.template_data: the data a message was rendered from

A fallback (备用渠道) is rendered with its own channel's template (a short SMS, an email with a
subject), not copied from the failed message's body; the fan-out keeps the data it rendered
from (JSON) so the fallback can be rendered from it. Messages queued before have none (their
fallback copies the text, as before).

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-03
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0015'
down_revision: str | None = '0014'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('messages') as batch:
        batch.add_column(sa.Column('template_data', sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('messages') as batch:
        batch.drop_column('template_data')
