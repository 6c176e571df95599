"""application details: documents on file, fee items, 三零 whitelist, grid capacity per area

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-27
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import shared.db

revision: str = '0009'
down_revision: str | None = '0008'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

STAGE = sa.Enum('acceptance', 'supply_plan', 'design_review', 'midway_inspection', 'completion_inspection', 'connection', 'signing', 'construction_connection', name='stage', native_enum=False, length=32)


def upgrade() -> None:
    op.create_table('grid_areas',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('unit', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
    sa.Column('available_kva', sa.Numeric(precision=12, scale=2), nullable=False),
    sa.Column('capacity_limited', sa.Boolean(), nullable=False),
    sa.Column('in_grid_plan', sa.Boolean(), nullable=False),
    sa.Column('note', sa.Text(), nullable=False),
    sa.Column('updated_at', shared.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_by', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_grid_areas')),
    sa.UniqueConstraint('unit', 'name', name='uq_grid_areas_unit_name')
    )
    op.create_table('application_documents',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('application_id', sa.Integer(), nullable=False),
    sa.Column('stage', STAGE, nullable=False),
    sa.Column('kind', sa.String(length=64), nullable=False),
    sa.Column('reference', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('valid_until', sa.Date(), nullable=True),
    sa.Column('note', sa.Text(), nullable=False),
    sa.Column('received_at', shared.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('received_by', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
    sa.ForeignKeyConstraint(['application_id'], ['applications.id'], name=op.f('fk_application_documents_application_id_applications')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_application_documents'))
    )
    with op.batch_alter_table('application_documents', schema=None) as batch_op:
        batch_op.create_index('ix_application_documents_application', ['application_id', 'kind'], unique=False)

    op.create_table('document_requests',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('application_id', sa.Integer(), nullable=False),
    sa.Column('stage', STAGE, nullable=False),
    sa.Column('kinds', sa.JSON(), nullable=False),
    sa.Column('note', sa.Text(), nullable=False),
    sa.Column('requested_at', shared.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('requested_by', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
    sa.ForeignKeyConstraint(['application_id'], ['applications.id'], name=op.f('fk_document_requests_application_id_applications')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_document_requests'))
    )
    with op.batch_alter_table('document_requests', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_document_requests_application_id'), ['application_id'], unique=False)

    op.create_table('change_of_use_links',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('application_id', sa.Integer(), nullable=False),
    sa.Column('previous_application_id', sa.Integer(), nullable=False),
    sa.Column('linked_at', shared.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('linked_by', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
    sa.ForeignKeyConstraint(['application_id'], ['applications.id'], name=op.f('fk_change_of_use_links_application_id_applications')),
    sa.ForeignKeyConstraint(['previous_application_id'], ['applications.id'], name=op.f('fk_change_of_use_links_previous_application_id_applications')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_change_of_use_links')),
    sa.UniqueConstraint('application_id', name=op.f('uq_change_of_use_links_application_id'))
    )
    op.create_table('application_fees',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('application_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.Enum('statutory', 'extended', name='feekind', native_enum=False, length=32), nullable=False),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('service_code', sa.String(length=64), nullable=True),
    sa.Column('basis', sqlmodel.sql.sqltypes.AutoString(length=300), nullable=True),
    sa.Column('unit', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=True),
    sa.Column('unit_price', sa.Numeric(precision=14, scale=2), nullable=True),
    sa.Column('quantity', sa.Numeric(precision=12, scale=2), nullable=False),
    sa.Column('amount', sa.Numeric(precision=14, scale=2), nullable=False),
    sa.Column('utility_side', sa.Boolean(), nullable=False),
    sa.Column('consented_at', shared.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('consent_recorded_by', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True),
    sa.Column('consent_evidence', sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True),
    sa.Column('added_at', shared.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('added_by', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
    sa.Column('voided_at', shared.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('voided_by', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True),
    sa.Column('void_reason', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['application_id'], ['applications.id'], name=op.f('fk_application_fees_application_id_applications')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_application_fees'))
    )
    with op.batch_alter_table('application_fees', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_application_fees_application_id'), ['application_id'], unique=False)

    op.create_table('three_zero_assessments',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('application_id', sa.Integer(), nullable=False),
    sa.Column('policy_code', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.Column('category', sa.Enum('residential', 'small_micro_enterprise', 'other', name='customercategory', native_enum=False, length=32), nullable=False),
    sa.Column('area', sa.Enum('urban', 'rural', name='area', native_enum=False, length=32), nullable=False),
    sa.Column('grid_area_id', sa.Integer(), nullable=True),
    sa.Column('capacity_limited', sa.Boolean(), nullable=False),
    sa.Column('in_grid_plan', sa.Boolean(), nullable=False),
    sa.Column('eligible', sa.Boolean(), nullable=False),
    sa.Column('zero_investment', sa.Boolean(), nullable=False),
    sa.Column('capacity_limit_kw', sa.Numeric(precision=12, scale=2), nullable=True),
    sa.Column('whitelist', sa.Boolean(), nullable=False),
    sa.Column('reasons', sa.JSON(), nullable=False),
    sa.Column('assessed_at', shared.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['application_id'], ['applications.id'], name=op.f('fk_three_zero_assessments_application_id_applications')),
    sa.ForeignKeyConstraint(['grid_area_id'], ['grid_areas.id'], name=op.f('fk_three_zero_assessments_grid_area_id_grid_areas')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_three_zero_assessments')),
    sa.UniqueConstraint('application_id', name=op.f('uq_three_zero_assessments_application_id'))
    )
    op.create_table('whitelist_entries',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('application_id', sa.Integer(), nullable=False),
    sa.Column('unit', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
    sa.Column('grid_area_id', sa.Integer(), nullable=True),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('status', sa.Enum('pending_upgrade', 'upgrade_done', 'released', name='whiteliststatus', native_enum=False, length=32), nullable=False),
    sa.Column('created_at', shared.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('upgrade_done_at', shared.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('upgrade_done_by', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True),
    sa.Column('upgrade_note', sa.Text(), nullable=True),
    sa.Column('released_at', shared.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('released_by', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True),
    sa.Column('release_note', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['application_id'], ['applications.id'], name=op.f('fk_whitelist_entries_application_id_applications')),
    sa.ForeignKeyConstraint(['grid_area_id'], ['grid_areas.id'], name=op.f('fk_whitelist_entries_grid_area_id_grid_areas')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_whitelist_entries')),
    sa.UniqueConstraint('application_id', name=op.f('uq_whitelist_entries_application_id'))
    )
    with op.batch_alter_table('whitelist_entries', schema=None) as batch_op:
        batch_op.create_index('ix_whitelist_entries_area_status', ['grid_area_id', 'status'], unique=False)
        batch_op.create_index('ix_whitelist_entries_status', ['status', 'id'], unique=False)
        batch_op.create_index('ix_whitelist_entries_unit_status', ['unit', 'status', 'id'], unique=False)

    # A customer's applications by identity (documents on file reused on a change of use).
    with op.batch_alter_table('applications', schema=None) as batch_op:
        batch_op.create_index('ix_applications_holder', ['id_kind', 'id_number'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('applications', schema=None) as batch_op:
        batch_op.drop_index('ix_applications_holder')

    with op.batch_alter_table('whitelist_entries', schema=None) as batch_op:
        batch_op.drop_index('ix_whitelist_entries_unit_status')
        batch_op.drop_index('ix_whitelist_entries_status')
        batch_op.drop_index('ix_whitelist_entries_area_status')
    op.drop_table('whitelist_entries')
    op.drop_table('three_zero_assessments')

    with op.batch_alter_table('application_fees', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_application_fees_application_id'))
    op.drop_table('application_fees')
    op.drop_table('change_of_use_links')

    with op.batch_alter_table('document_requests', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_document_requests_application_id'))
    op.drop_table('document_requests')

    with op.batch_alter_table('application_documents', schema=None) as batch_op:
        batch_op.drop_index('ix_application_documents_application')
    op.drop_table('application_documents')
    op.drop_table('grid_areas')
