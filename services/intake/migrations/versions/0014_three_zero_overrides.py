"""三零 from the facts: the type entered and a clerk's override (人工调整) of the decision

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-02
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0014'
down_revision: str | None = '0013'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_CUSTOMER_TYPES = (
    'residential',
    'low_voltage_three_zero',
    'low_voltage',
    'hv10_single',
    'hv10_dual',
    'hv35_single',
    'hv35_dual',
)


def upgrade() -> None:
    with op.batch_alter_table('three_zero_assessments') as batch:
        batch.add_column(
            sa.Column(
                'declared_customer_type',
                sa.Enum(*_CUSTOMER_TYPES, name='customertype', native_enum=False, length=32),
                nullable=True,
            )
        )
        batch.add_column(sa.Column('override_eligible', sa.Boolean(), nullable=True))
        batch.add_column(sa.Column('override_reason', sa.Text(), nullable=True))
        batch.add_column(sa.Column('overridden_by', sa.String(length=100), nullable=True))
        batch.add_column(sa.Column('overridden_at', sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('three_zero_assessments') as batch:
        batch.drop_column('overridden_at')
        batch.drop_column('overridden_by')
        batch.drop_column('override_reason')
        batch.drop_column('override_eligible')
        batch.drop_column('declared_customer_type')
