"""portal integration (政务服务平台对接): nonces, idempotency, pre-applications, approvals, webhooks

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-27
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import shared.db

revision: str = '0008'
down_revision: str | None = '0007'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('portal_clients', schema=None) as batch_op:
        batch_op.add_column(sa.Column('webhook_url', sa.String(length=500), nullable=True))

    with op.batch_alter_table('applications', schema=None) as batch_op:
        batch_op.add_column(sa.Column('project_code', sa.String(length=24), nullable=True))
        batch_op.add_column(sa.Column('portal_client', sa.String(length=64), nullable=True))
        batch_op.create_index(batch_op.f('ix_applications_project_code'), ['project_code'], unique=False)

    op.create_table('portal_nonces',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('key_id', sa.String(length=64), nullable=False),
    sa.Column('nonce', sa.String(length=64), nullable=False),
    sa.Column('expires_at', shared.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_portal_nonces')),
    sa.UniqueConstraint('key_id', 'nonce', name='uq_portal_nonces_key_nonce')
    )
    with op.batch_alter_table('portal_nonces', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_portal_nonces_expires_at'), ['expires_at'], unique=False)

    op.create_table('portal_idempotency_keys',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('key_id', sa.String(length=64), nullable=False),
    sa.Column('idempotency_key', sa.String(length=200), nullable=False),
    sa.Column('request_hash', sa.String(length=64), nullable=False),
    sa.Column('status_code', sa.Integer(), nullable=False),
    sa.Column('body', sa.JSON(), nullable=False),
    sa.Column('created_at', shared.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_portal_idempotency_keys')),
    sa.UniqueConstraint('key_id', 'idempotency_key', name='uq_portal_idempotency_keys_key')
    )
    with op.batch_alter_table('portal_idempotency_keys', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_portal_idempotency_keys_created_at'), ['created_at'], unique=False)

    op.create_table('pre_applications',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('project_code', sa.String(length=24), nullable=False),
    sa.Column('project_name', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('builder_name', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('builder_credit_code', sqlmodel.sql.sqltypes.AutoString(length=18), nullable=False),
    sa.Column('site_address', sqlmodel.sql.sqltypes.AutoString(length=300), nullable=False),
    sa.Column('region_code', sqlmodel.sql.sqltypes.AutoString(length=6), nullable=False),
    sa.Column('jurisdiction', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('unit', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
    sa.Column('expected_load_kw', sa.Numeric(precision=12, scale=2), nullable=False),
    sa.Column('expected_connection_date', sa.Date(), nullable=False),
    sa.Column('status', sa.Enum('awaiting', 'joined', name='preapplicationstatus', native_enum=False, length=32), nullable=False),
    sa.Column('source_key_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('received_at', shared.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', shared.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('application_id', sa.Integer(), nullable=True),
    sa.Column('joined_at', shared.db.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['application_id'], ['applications.id'], name=op.f('fk_pre_applications_application_id_applications')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_pre_applications')),
    sa.UniqueConstraint('application_id', name=op.f('uq_pre_applications_application_id')),
    sa.UniqueConstraint('project_code', name=op.f('uq_pre_applications_project_code'))
    )
    with op.batch_alter_table('pre_applications', schema=None) as batch_op:
        batch_op.create_index('ix_pre_applications_unit_status', ['unit', 'status', 'expected_connection_date'], unique=False)

    op.create_table('portal_licence_checks',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('application_id', sa.Integer(), nullable=False),
    sa.Column('licence_type', sa.Enum('business_licence', 'id_card', 'real_estate', name='licencetype', native_enum=False, length=32), nullable=False),
    sa.Column('number', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('outcome', sa.Enum('valid', 'expired', 'revoked', 'holder_mismatch', 'not_found', name='licenceoutcome', native_enum=False, length=32), nullable=False),
    sa.Column('issuer', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
    sa.Column('expires_on', sa.Date(), nullable=True),
    sa.Column('checked_at', shared.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['application_id'], ['applications.id'], name=op.f('fk_portal_licence_checks_application_id_applications')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_portal_licence_checks'))
    )
    with op.batch_alter_table('portal_licence_checks', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_portal_licence_checks_application_id'), ['application_id'], unique=False)

    op.create_table('portal_webhook_deliveries',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('event_id', sa.Uuid(), nullable=False),
    sa.Column('key_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('application_id', sa.Integer(), nullable=False),
    sa.Column('application_number', sqlmodel.sql.sqltypes.AutoString(length=24), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('type', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('body', sa.JSON(), nullable=False),
    sa.Column('state', sa.Enum('pending', 'delivered', 'skipped', name='deliverystate', native_enum=False, length=32), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', shared.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('last_status', sa.Integer(), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('created_at', shared.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('delivered_at', shared.db.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['application_id'], ['applications.id'], name=op.f('fk_portal_webhook_deliveries_application_id_applications')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_portal_webhook_deliveries')),
    sa.UniqueConstraint('application_id', 'seq', name='uq_portal_webhook_deliveries_seq'),
    sa.UniqueConstraint('event_id', name=op.f('uq_portal_webhook_deliveries_event_id'))
    )
    with op.batch_alter_table('portal_webhook_deliveries', schema=None) as batch_op:
        batch_op.create_index('ix_portal_webhook_deliveries_client', ['key_id', 'id'], unique=False)
        batch_op.create_index('ix_portal_webhook_deliveries_due', ['state', 'next_attempt_at', 'id'], unique=False)

    op.create_table('external_line_works',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('application_id', sa.Integer(), nullable=False),
    sa.Column('voltage', sa.Enum('low', 'high', name='voltageclass', native_enum=False, length=32), nullable=False),
    sa.Column('length_m', sa.Numeric(precision=10, scale=2), nullable=False),
    sa.Column('crossings', sa.JSON(), nullable=False),
    sa.Column('procedure', sa.Enum('exempt', 'commitment_filing', 'commitment', 'full_approval', name='approvalprocedure', native_enum=False, length=32), nullable=False),
    sa.Column('rule_code', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('explanation', sa.Text(), nullable=False),
    sa.Column('approval_state', sa.Enum('not_needed', 'filed', 'pending', 'approved', 'rejected', name='approvalstate', native_enum=False, length=32), nullable=False),
    sa.Column('recorded_at', shared.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('recorded_by', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
    sa.Column('approval_number', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True),
    sa.Column('approval_decided_on', sa.Date(), nullable=True),
    sa.Column('approval_received_at', shared.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('approval_note', sa.Text(), nullable=True),
    sa.Column('approval_source', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.Column('completed_at', shared.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('completed_on', sa.Date(), nullable=True),
    sa.Column('completed_by', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True),
    sa.Column('push_due_on', sa.Date(), nullable=True),
    sa.Column('pushed_at', shared.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('pushed_on', sa.Date(), nullable=True),
    sa.Column('pushed_by', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True),
    sa.Column('push_reference', sa.String(length=200), nullable=True),
    sa.ForeignKeyConstraint(['application_id'], ['applications.id'], name=op.f('fk_external_line_works_application_id_applications')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_external_line_works')),
    sa.UniqueConstraint('application_id', name=op.f('uq_external_line_works_application_id'))
    )
    with op.batch_alter_table('external_line_works', schema=None) as batch_op:
        batch_op.create_index('ix_external_line_works_state', ['approval_state'], unique=False)
        batch_op.create_index('ix_external_line_works_unpushed', ['push_due_on'], unique=False, postgresql_where=sa.text('pushed_at IS NULL'), sqlite_where=sa.text('pushed_at IS NULL'))


def downgrade() -> None:
    for table in (
        'external_line_works',
        'portal_webhook_deliveries',
        'portal_licence_checks',
        'pre_applications',
        'portal_idempotency_keys',
        'portal_nonces',
    ):
        op.drop_table(table)  # its indexes go with it

    with op.batch_alter_table('applications', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_applications_project_code'))
        batch_op.drop_column('portal_client')
        batch_op.drop_column('project_code')

    with op.batch_alter_table('portal_clients', schema=None) as batch_op:
        batch_op.drop_column('webhook_url')
