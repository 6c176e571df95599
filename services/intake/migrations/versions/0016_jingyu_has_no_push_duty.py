"""Jingyu has no push duty: external-line works of Jingyu applications lose the 3-month push
deadline they were given under Dongying's rule (东发改能源〔2021〕122号 applies to Dongying only)

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-02
"""
from collections.abc import Sequence

from alembic import op

revision: str = '0016'
down_revision: str | None = '0015'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Only duties still open: a push already made stays on record with the date it was held to.
    op.execute(
        "UPDATE external_line_works SET push_due_on = NULL "
        "WHERE pushed_at IS NULL AND application_id IN "
        "(SELECT id FROM applications WHERE jurisdiction = 'jingyu')"
    )


def downgrade() -> None:
    # The deadlines removed were wrong; they are not put back.
    pass
