"""outbox: intake.application.connected events carry the area class code only

The event's ``area_class`` was the Chinese label, with the code beside it as
``area_class_code``; notify now takes the code (``shared.vocab.AreaClass``) and looks the label
up. Rows already queued are rewritten, so a pending one is not refused by notify and retried
forever.

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-03
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0021'
down_revision: str | None = '0020'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CONNECTED = 'intake.application.connected'
LABELS = {'central': '中心区', 'urban': '市区', 'town': '城镇', 'rural': '农村'}
OUTBOX = sa.table(
    'outbox_events', sa.column('id', sa.Integer), sa.column('type', sa.String), sa.column('data', sa.JSON)
)


def upgrade() -> None:
    bind = op.get_bind()
    rows = bind.execute(sa.select(OUTBOX.c.id, OUTBOX.c.data).where(OUTBOX.c.type == CONNECTED))
    for row_id, data in rows.all():
        if 'area_class_code' not in data:
            continue
        new = {k: v for k, v in data.items() if k != 'area_class_code'}
        new['area_class'] = data['area_class_code']
        bind.execute(OUTBOX.update().where(OUTBOX.c.id == row_id).values(data=new))


def downgrade() -> None:
    bind = op.get_bind()
    rows = bind.execute(sa.select(OUTBOX.c.id, OUTBOX.c.data).where(OUTBOX.c.type == CONNECTED))
    for row_id, data in rows.all():
        code = data.get('area_class')
        if code not in LABELS or 'area_class_code' in data:
            continue
        new = {**data, 'area_class': LABELS[code], 'area_class_code': code}
        bind.execute(OUTBOX.update().where(OUTBOX.c.id == row_id).values(data=new))
