"""deadlines moved by a calendar change (节假日调整引起的时限变更)

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-02
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import shared.db

revision: str = '0017'
down_revision: str | None = '0016'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

STAGES = (
    'acceptance', 'supply_plan', 'design_review', 'midway_inspection', 'completion_inspection',
    'connection', 'signing', 'construction_connection',
)


def upgrade() -> None:
    op.create_table('application_due_changes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('application_id', sa.Integer(), nullable=False),
    sa.Column('stage_seq', sa.Integer(), nullable=False),
    sa.Column('stage', sa.Enum(*STAGES, name='stage', native_enum=False, length=32), nullable=False),
    sa.Column('basis', sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
    sa.Column('old_due', sa.Date(), nullable=False),
    sa.Column('new_due', sa.Date(), nullable=False),
    sa.Column('old_provisional', sa.Boolean(), nullable=False),
    sa.Column('new_provisional', sa.Boolean(), nullable=False),
    sa.Column('calendar_year', sa.Integer(), nullable=False),
    sa.Column('calendar_source', sqlmodel.sql.sqltypes.AutoString(length=300), nullable=False),
    sa.Column('cleared', sa.JSON(), nullable=False),
    sa.Column('changed_at', shared.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('changed_by', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
    sa.ForeignKeyConstraint(['application_id'], ['applications.id'], name=op.f('fk_application_due_changes_application_id_applications')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_application_due_changes'))
    )
    with op.batch_alter_table('application_due_changes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_application_due_changes_application_id'), ['application_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('application_due_changes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_application_due_changes_application_id'))
    op.drop_table('application_due_changes')
