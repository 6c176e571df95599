"""A unit's dashboard (单位看板) and the units ranked for the 通报 (通报排名)."""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import and_, case, func, or_
from sqlalchemy import select as sa_select
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from services.ledger.ledgers.items import ItemFilter, filtered, list_items
from services.ledger.ledgers.models import (
    Item,
    ItemUnit,
    Ledger,
    StatusCount,
    Unit,
    UnitDashboard,
    UnitStanding,
)
from services.ledger.ledgers.state import in_use, state_columns
from services.ledger.ledgers.units import get_unit
from services.ledger.updates.models import FINISHED_STATUSES, STATUS_LABELS, TaskStatus
from shared.db import fetch_all
from shared.pagination import PageParams
from shared.timeutil import end_of_beijing_day


async def unit_dashboard(
    session: AsyncSession, unit_id: int, *, as_of: date, ledger_code: str | None = None
) -> UnitDashboard:
    unit = await get_unit(session, unit_id)
    state = state_columns(as_of)
    flt = ItemFilter(ledger_code=ledger_code, unit_id=unit_id)
    base = filtered(
        sa_select(
            col(Item.id),
            state.status.label("status"),
            case((state.overdue, 1), else_=0).label("overdue"),
            case((state.due_soon, 1), else_=0).label("due_soon"),
        )
        .join(Ledger, col(Ledger.id) == col(Item.ledger_id))
        .outerjoin(state.latest, state.latest.c.item_id == col(Item.id)),
        state,
        flt,
    ).subquery()
    rows = await fetch_all(
        session,
        sa_select(
            base.c.status, func.count(), func.sum(base.c.overdue), func.sum(base.c.due_soon)
        ).group_by(base.c.status),
    )
    counts = {TaskStatus(status): (n, late or 0, soon or 0) for status, n, late, soon in rows}
    overdue_page = await list_items(
        session,
        ItemFilter(ledger_code=ledger_code, unit_id=unit_id, overdue=True),
        as_of=as_of,
        paging=PageParams(limit=1000),
    )
    return UnitDashboard(
        unit_id=unit_id,
        unit=unit.name,
        as_of=as_of,
        total=sum(n for n, _, _ in counts.values()),
        by_status=[
            StatusCount(status=s, status_label=STATUS_LABELS[s], count=counts.get(s, (0,))[0])
            for s in TaskStatus
        ],
        overdue_count=sum(late for _, late, _ in counts.values()),
        due_soon_count=sum(soon for _, _, soon in counts.values()),
        overdue=overdue_page.items,
    )


async def unit_ranking(
    session: AsyncSession, *, as_of: date, stale_days: int = 30, ledger_code: str | None = None
) -> list[UnitStanding]:
    """Units ranked worst first: most overdue items, then most stale ones.

    An item is stale when it is not finished and has had no update for ``stale_days`` days.
    """
    state = state_columns(as_of)
    stale_before = end_of_beijing_day(as_of - timedelta(days=stale_days))
    unfinished = state.status.not_in([s.value for s in FINISHED_STATUSES])
    stale = and_(
        unfinished,
        or_(state.latest.c.created_at.is_(None), state.latest.c.created_at < stale_before),
    )
    query = (
        sa_select(
            col(Unit.id),
            col(Unit.name),
            func.count(col(Item.id)),
            func.sum(case((state.overdue, 1), else_=0)),
            func.sum(case((stale, 1), else_=0)),
        )
        .select_from(ItemUnit)
        .join(Unit, col(Unit.id) == col(ItemUnit.unit_id))
        .join(Item, col(Item.id) == col(ItemUnit.item_id))
        .join(Ledger, col(Ledger.id) == col(Item.ledger_id))
        .outerjoin(state.latest, state.latest.c.item_id == col(Item.id))
        .group_by(col(Unit.id), col(Unit.name))
    )
    query = query.where(col(Ledger.code) == ledger_code) if ledger_code else query.where(in_use())
    rows = sorted(await fetch_all(session, query), key=lambda r: (-(r[3] or 0), -(r[4] or 0), r[1]))
    return [
        UnitStanding(rank=i, unit_id=uid, unit=name, items=n, overdue=late or 0, stale=old or 0)
        for i, (uid, name, n, late, old) in enumerate(rows, start=1)
    ]
