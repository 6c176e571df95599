"""scheduled_job_runs: the request id (请求号) of each run

Every run of a scheduled job has a request id of its own (shared.logs.job_run), on its log lines
and the messages it queues; the run record keeps it (of the latest attempt) so that one run can
be followed from GET /scheduler. Runs recorded before have none.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-03
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0014'
down_revision: str | None = '0013'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('scheduled_job_runs') as batch:
        batch.add_column(sa.Column('request_id', sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('scheduled_job_runs') as batch:
        batch.drop_column('request_id')
