"""Ledger items (台账事项): listing with filters and reading one, as :class:`.models.ItemPublic`.

A listing is one query over the items with their derived state (:mod:`.state`), then one more for
the units of the page's items.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import case, func
from sqlalchemy import select as sa_select
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.ledger.ledgers.models import (
    Item,
    ItemPage,
    ItemPublic,
    ItemUnit,
    Ledger,
    ResponsibleUnit,
    Unit,
)
from services.ledger.ledgers.state import (
    DEFAULT_DUE_SOON_DAYS,
    StateColumns,
    in_use,
    state_columns,
)
from services.ledger.updates.models import STATUS_LABELS, TaskStatus
from shared.db import AnySelect, fetch_all
from shared.errors import NotFound
from shared.pagination import FIRST_PAGE, PageParams, fetch_page


@dataclass(frozen=True)
class ItemFilter:
    """Which items a listing returns; a field left ``None`` does not filter."""

    ledger_code: str | None = None
    category: str | None = None
    unit_id: int | None = None
    # Items of any of these units (a department head's "my items").
    any_unit_ids: frozenset[int] | None = None
    status: TaskStatus | None = None
    due_before: date | None = None
    overdue: bool | None = None
    due_soon: bool | None = None


def filtered(query: AnySelect, state: StateColumns, flt: ItemFilter) -> AnySelect:
    if flt.ledger_code:
        query = query.where(col(Ledger.code) == flt.ledger_code)
    else:  # archived ledgers' items only when their ledger is named
        query = query.where(in_use())
    if flt.category:
        query = query.where(col(Item.category) == flt.category)
    if flt.unit_id is not None:
        query = query.where(
            col(Item.id).in_(select(ItemUnit.item_id).where(col(ItemUnit.unit_id) == flt.unit_id))
        )
    if flt.any_unit_ids is not None:
        query = query.where(
            col(Item.id).in_(
                select(ItemUnit.item_id).where(col(ItemUnit.unit_id).in_(flt.any_unit_ids))
            )
        )
    if flt.status is not None:
        query = query.where(state.status == flt.status.value)
    if flt.due_before is not None:
        query = query.where(col(Item.due_date) < flt.due_before)
    if flt.overdue is not None:
        query = query.where(state.overdue if flt.overdue else ~state.overdue)
    if flt.due_soon is not None:
        query = query.where(state.due_soon if flt.due_soon else ~state.due_soon)
    return query


def item_rows(state: StateColumns) -> AnySelect:
    return (
        sa_select(
            Item,
            col(Ledger.code),
            state.status.label("status"),
            func.coalesce(state.latest.c.progress, 0).label("progress"),
            state.latest.c.narrative,
            state.latest.c.created_at.label("last_update_at"),
            case((state.overdue, True), else_=False).label("overdue"),
            case((state.due_soon, True), else_=False).label("due_soon"),
        )
        .join(Ledger, col(Ledger.id) == col(Item.ledger_id))
        .outerjoin(state.latest, state.latest.c.item_id == col(Item.id))
    )


async def units_by_item(
    session: AsyncSession, item_ids: Sequence[int]
) -> dict[int, list[ResponsibleUnit]]:
    result: dict[int, list[ResponsibleUnit]] = {i: [] for i in item_ids}
    if not item_ids:
        return result
    # Plain columns, not entities: a 5,000-item export links ~10,000 units (issue 14).
    rows = await fetch_all(
        session,
        sa_select(col(ItemUnit.item_id), col(Unit.id), col(Unit.name), col(ItemUnit.role))
        .join(Unit, col(Unit.id) == col(ItemUnit.unit_id))
        .where(col(ItemUnit.item_id).in_(item_ids))
        .order_by(col(ItemUnit.item_id), col(ItemUnit.position)),
    )
    for item_id, unit_id, name, role in rows:
        result[item_id].append(ResponsibleUnit(id=unit_id, name=name, role=role))
    return result


async def to_public(session: AsyncSession, rows: Sequence[Any], as_of: date) -> list[ItemPublic]:
    units = await units_by_item(session, [row[0].id for row in rows])
    items = []
    for item, ledger_code, status, progress, narrative, last_update_at, overdue, due_soon in rows:
        task_status = TaskStatus(status)
        late = bool(overdue)
        items.append(
            ItemPublic(
                id=item.id,
                ledger_code=ledger_code,
                seq=item.seq,
                category=item.category,
                task=item.task,
                responsible_text=item.responsible_text,
                units=units[item.id],
                due_text=item.due_text,
                due_kind=item.due_kind,
                due_date=item.due_date,
                status=task_status,
                status_label=STATUS_LABELS[task_status],
                progress=progress,
                latest_narrative=narrative,
                last_update_at=last_update_at,
                overdue=late,
                due_soon=bool(due_soon),
                days_overdue=(as_of - item.due_date).days if late and item.due_date else None,
            )
        )
    return items


async def list_items(
    session: AsyncSession,
    flt: ItemFilter,
    *,
    as_of: date,
    due_soon_days: int = DEFAULT_DUE_SOON_DAYS,
    paging: PageParams = FIRST_PAGE,
) -> ItemPage:
    state = state_columns(as_of, due_soon_days)
    base = filtered(item_rows(state), state, flt)
    total, rows = await fetch_page(session, base, paging, col(Ledger.code), col(Item.seq))
    return ItemPage(
        total=total,
        limit=paging.limit,
        offset=paging.offset,
        items=await to_public(session, rows, as_of),
    )


async def get_item_public(session: AsyncSession, item_id: int, *, as_of: date) -> ItemPublic:
    state = state_columns(as_of)
    rows = await fetch_all(session, item_rows(state).where(col(Item.id) == item_id))
    if not rows:
        raise NotFound(f"item {item_id} does not exist", code="item_not_found")
    return (await to_public(session, rows, as_of))[0]
