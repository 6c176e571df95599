"""fees from the lists: the provincial price document beside a statutory item's legal basis,
and items held for a supervisor's approval (待审核收费项目)

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-02
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0015'
down_revision: str | None = '0014'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('application_fees') as batch:
        batch.add_column(sa.Column('price_document', sa.String(length=300), nullable=True))
        batch.add_column(
            sa.Column(
                'approval',
                sa.Enum(
                    'pending',
                    'approved',
                    'rejected',
                    name='feeapproval',
                    native_enum=False,
                    length=32,
                ),
                nullable=True,
            )
        )
        batch.add_column(sa.Column('hold_reason', sa.Text(), nullable=True))
        batch.add_column(sa.Column('decided_at', sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column('decided_by', sa.String(length=100), nullable=True))
        batch.add_column(sa.Column('decision_note', sa.Text(), nullable=True))
    op.create_index('ix_application_fees_approval', 'application_fees', ['approval', 'id'])


def downgrade() -> None:
    op.drop_index('ix_application_fees_approval', table_name='application_fees')
    with op.batch_alter_table('application_fees') as batch:
        batch.drop_column('decision_note')
        batch.drop_column('decided_by')
        batch.drop_column('decided_at')
        batch.drop_column('hold_reason')
        batch.drop_column('approval')
        batch.drop_column('price_document')
