"""documents: their source (counter, e-license, portal), waivers with reasons, requests linked
to the pause they make the clock wait for

Documents already on file were all taken at the counter.

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-02
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import shared.db

revision: str = '0019'
down_revision: str | None = '0018'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

STAGE = sa.Enum('acceptance', 'supply_plan', 'design_review', 'midway_inspection', 'completion_inspection', 'connection', 'signing', 'construction_connection', name='stage', native_enum=False, length=32)
SOURCE = sa.Enum('counter', 'elicense', 'portal', name='documentsource', native_enum=False, length=32)


def upgrade() -> None:
    with op.batch_alter_table('application_documents') as batch:
        batch.add_column(sa.Column('source', SOURCE, server_default='counter', nullable=False))
    with op.batch_alter_table('document_requests') as batch:
        batch.add_column(sa.Column('pause_id', sa.Integer(), nullable=True))
        batch.create_foreign_key(
            batch.f('fk_document_requests_pause_id_application_pauses'),
            'application_pauses', ['pause_id'], ['id'],
        )
        batch.create_index(batch.f('ix_document_requests_pause_id'), ['pause_id'], unique=False)
    op.create_table('document_waivers',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('application_id', sa.Integer(), nullable=False),
    sa.Column('stage', STAGE, nullable=False),
    sa.Column('kind', sa.String(length=64), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('waived_at', shared.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('waived_by', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
    sa.ForeignKeyConstraint(['application_id'], ['applications.id'], name=op.f('fk_document_waivers_application_id_applications')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_document_waivers')),
    sa.UniqueConstraint('application_id', 'stage', 'kind', name='uq_document_waivers_kind')
    )
    with op.batch_alter_table('document_waivers', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_document_waivers_application_id'), ['application_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('document_waivers', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_document_waivers_application_id'))
    op.drop_table('document_waivers')
    with op.batch_alter_table('document_requests') as batch:
        batch.drop_index(batch.f('ix_document_requests_pause_id'))
        batch.drop_constraint(
            batch.f('fk_document_requests_pause_id_application_pauses'), type_='foreignkey'
        )
        batch.drop_column('pause_id')
    with op.batch_alter_table('application_documents') as batch:
        batch.drop_column('source')
