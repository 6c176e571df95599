"""outbox: events carry codes only (area class, customer type), notify looks the labels up

intake.application.connected carried the area class as its Chinese label with the code beside
it (``area_class_code``); the stage events (at_risk, overdue, escalation.opened) the customer
type as its label with ``customer_type_code``, and due_changed the customer type's label alone.
Notify now takes the codes (``shared.vocab.AreaClass``, ``shared.vocab.CustomerType``) and looks
the labels up. Rows already queued are rewritten, so a pending one is not refused by notify
and retried forever.

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-03
"""
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = '0021'
down_revision: str | None = '0020'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CONNECTED = 'intake.application.connected'
STAGE_EVENTS = ('intake.stage.at_risk', 'intake.stage.overdue', 'intake.escalation.opened')
DUE_CHANGED = 'intake.application.due_changed'
AREA_CLASSES = {'central': '中心区', 'urban': '市区', 'town': '城镇', 'rural': '农村'}
CUSTOMER_TYPES = {
    'residential': '居民用户',
    'low_voltage_three_zero': '实行“三零”服务的低压非居民用户',
    'low_voltage': '未实行“三零”服务的低压非居民用户',
    'hv10_single': '10千伏单电源用户',
    'hv10_dual': '10千伏双电源用户',
    'hv35_single': '35千伏及以上单电源用户',
    'hv35_dual': '35千伏及以上双电源用户',
}
OUTBOX = sa.table(
    'outbox_events', sa.column('id', sa.Integer), sa.column('type', sa.String), sa.column('data', sa.JSON)
)
# (event types, field, the code field queued beside the label or None, codes → labels)
FIELDS = (
    ((CONNECTED,), 'area_class', 'area_class_code', AREA_CLASSES),
    (STAGE_EVENTS, 'customer_type', 'customer_type_code', CUSTOMER_TYPES),
    ((DUE_CHANGED,), 'customer_type', None, CUSTOMER_TYPES),
)


def _coded(data: dict[str, Any], field: str, beside: str | None, labels: dict[str, str]) -> dict[str, Any]:
    codes = {label: code for code, label in labels.items()}
    new = {k: v for k, v in data.items() if k != beside}
    if beside is not None and beside in data:
        new[field] = data[beside]
    elif data.get(field) in codes:
        new[field] = codes[data[field]]
    return new


def _labelled(data: dict[str, Any], field: str, beside: str | None, labels: dict[str, str]) -> dict[str, Any]:
    code = data.get(field)
    if code not in labels:
        return data
    new = {**data, field: labels[code]}
    if beside is not None:
        new[beside] = code
    return new


def _rewrite(change: Any) -> None:
    bind = op.get_bind()
    for types, field, beside, labels in FIELDS:
        rows = bind.execute(sa.select(OUTBOX.c.id, OUTBOX.c.data).where(OUTBOX.c.type.in_(types)))
        for row_id, data in rows.all():
            new = change(data, field, beside, labels)
            if new != data:
                bind.execute(OUTBOX.update().where(OUTBOX.c.id == row_id).values(data=new))


def upgrade() -> None:
    _rewrite(_coded)


def downgrade() -> None:
    _rewrite(_labelled)
