"""area classes stored as codes (central …), no longer as labels (中心区 …)

Notify stored the 供电区域分类 as its Chinese label while intake stored the code, so every event
carried both. Now every service stores the code of ``shared.vocab.AreaClass`` and looks the label
up. Mobiles kept with a ``+86``/``86`` prefix (the old notify rule kept it) become the bare 11
digits of ``shared.vocab.parse_mobile``, so one phone has one form.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-03
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0013'
down_revision: str | None = '0012'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

LABELS = {'central': '中心区', 'urban': '市区', 'town': '城镇', 'rural': '农村'}
TABLES = ('subscribers', 'outage_impacts', 'official_customer_counts')


def _relabel(pairs: dict[str, str]) -> None:
    for name in TABLES:
        table = sa.table(name, sa.column('area_class', sa.String(32)))
        for old, new in pairs.items():
            op.execute(
                table.update().where(table.c.area_class == old).values(area_class=new)
            )


def upgrade() -> None:
    _relabel({label: code for code, label in LABELS.items()})
    subscribers = sa.table('subscribers', sa.column('mobile', sa.String(20)))
    mobile = subscribers.c.mobile
    for prefix in ('+86', '86'):
        op.execute(
            subscribers.update()
            .where(mobile.like(f'{prefix}1%'), sa.func.length(mobile) == len(prefix) + 11)
            .values(mobile=sa.func.substr(mobile, len(prefix) + 1))
        )


def downgrade() -> None:
    # The mobiles stay in their 11-digit form: the old rule accepted it too.
    _relabel(LABELS)
