"""Ledgers and items: loading a plan, listing with filters, dashboards and 通报 rankings.

Overdue (逾期) and due-soon (临期) are never stored: they are derived in SQL from the parsed due
date and the latest status update as of a given Beijing date.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, case, func, literal, or_
from sqlalchemy import select as sa_select
from sqlmodel import SQLModel, col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.ledger.accounts.service import reachable_people
from services.ledger.ledgers.models import (
    Item,
    ItemUnit,
    Ledger,
    LedgerPublic,
    ResponsibleUnit,
    Unit,
)
from services.ledger.ledgers.parsing import (
    DueKind,
    ResponsibilityRole,
    parse_due,
    parse_responsibilities,
)
from services.ledger.updates.models import (
    FINISHED_STATUSES,
    STATUS_LABELS,
    StatusUpdate,
    TaskStatus,
)
from shared.auth import Role
from shared.db import AnySelect, fetch_all
from shared.errors import Conflict, NotFound
from shared.pagination import FIRST_PAGE, Page, PageParams, fetch_page
from shared.timeutil import BeijingTime, end_of_beijing_day
from shared.units import nearest

DEFAULT_DUE_SOON_DAYS = 14


class ItemPublic(SQLModel):
    """An item as shown to users, with its derived state (状态、是否逾期)."""

    id: int
    ledger_code: str
    seq: int
    category: str
    task: str
    responsible_text: str
    units: list[ResponsibleUnit]
    due_text: str
    due_kind: DueKind
    due_date: date | None
    status: TaskStatus
    status_label: str
    progress: int
    latest_narrative: str | None
    last_update_at: BeijingTime | None
    overdue: bool
    due_soon: bool
    days_overdue: int | None


class ItemPage(Page[ItemPublic]):
    """A page of ledger items (台账事项)."""


@dataclass(frozen=True)
class ItemFilter:
    ledger_code: str | None = None
    category: str | None = None
    unit_id: int | None = None
    # Items of any of these units (a department head's "my items").
    any_unit_ids: frozenset[int] | None = None
    status: TaskStatus | None = None
    due_before: date | None = None
    overdue: bool | None = None
    due_soon: bool | None = None


@dataclass(frozen=True)
class NewItem:
    """One ledger row as read from a data file or a spreadsheet, before it is stored."""

    seq: int
    category: str
    task: str
    responsible_text: str
    due_text: str


# ---- derived state, in SQL -------------------------------------------------------------------


@dataclass(frozen=True)
class StateColumns:
    """The latest update as of a day, and the overdue/due-soon expressions built on it."""

    latest: Any
    status: ColumnElement[str]
    overdue: ColumnElement[bool]
    due_soon: ColumnElement[bool]


def _in_use() -> ColumnElement[bool]:
    """The ledger is not archived."""
    return col(Ledger.archived_at).is_(None)


def state_columns(as_of: date, due_soon_days: int = DEFAULT_DUE_SOON_DAYS) -> StateColumns:
    last_ids = (
        select(StatusUpdate.item_id, func.max(StatusUpdate.id).label("update_id"))
        .where(StatusUpdate.created_at < end_of_beijing_day(as_of))
        .group_by(col(StatusUpdate.item_id))
        .subquery("last_ids")
    )
    latest = (
        sa_select(
            last_ids.c.item_id,
            col(StatusUpdate.status),
            col(StatusUpdate.progress),
            col(StatusUpdate.narrative),
            col(StatusUpdate.created_at),
        )
        .join(StatusUpdate, col(StatusUpdate.id) == last_ids.c.update_id)
        .subquery("latest")
    )
    # Before its first update an item reads 未开始, except one whose 完成时间 says it is already
    # achieved (已实现，持续巩固提升): that one starts as 持续巩固.
    initial = case(
        (
            col(Item.due_kind) == DueKind.achieved_consolidating.value,
            literal(TaskStatus.consolidating.value),
        ),
        else_=literal(TaskStatus.not_started.value),
    )
    status = func.coalesce(latest.c.status, initial)
    unfinished = status.not_in([s.value for s in FINISHED_STATUSES])
    dated = and_(col(Item.due_kind) == DueKind.date.value, col(Item.due_date).is_not(None))
    overdue = and_(dated, col(Item.due_date) < as_of, unfinished)
    due_soon = and_(
        dated,
        col(Item.due_date) >= as_of,
        col(Item.due_date) <= as_of + timedelta(days=due_soon_days),
        unfinished,
    )
    return StateColumns(latest, status, overdue, due_soon)


def _filtered(query: AnySelect, state: StateColumns, flt: ItemFilter) -> AnySelect:
    if flt.ledger_code:
        query = query.where(col(Ledger.code) == flt.ledger_code)
    else:  # archived ledgers' items only when their ledger is named
        query = query.where(_in_use())
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


def _item_rows(state: StateColumns) -> AnySelect:
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


async def _units_by_item(
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


async def _to_public(session: AsyncSession, rows: Sequence[Any], as_of: date) -> list[ItemPublic]:
    units = await _units_by_item(session, [row[0].id for row in rows])
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
    base = _filtered(_item_rows(state), state, flt)
    total, rows = await fetch_page(session, base, paging, col(Ledger.code), col(Item.seq))
    return ItemPage(
        total=total,
        limit=paging.limit,
        offset=paging.offset,
        items=await _to_public(session, rows, as_of),
    )


async def get_item_public(session: AsyncSession, item_id: int, *, as_of: date) -> ItemPublic:
    state = state_columns(as_of)
    rows = await fetch_all(session, _item_rows(state).where(col(Item.id) == item_id))
    if not rows:
        raise NotFound(f"item {item_id} does not exist", code="item_not_found")
    return (await _to_public(session, rows, as_of))[0]


# ---- ledgers and units -----------------------------------------------------------------------


async def get_ledger(session: AsyncSession, code: str) -> Ledger:
    ledger = (await session.exec(select(Ledger).where(col(Ledger.code) == code))).first()
    if ledger is None:
        raise NotFound(f"ledger '{code}' does not exist", code="ledger_not_found")
    return ledger


async def list_ledgers(
    session: AsyncSession, *, include_archived: bool = False, code: str | None = None
) -> list[LedgerPublic]:
    counts = (
        select(Item.ledger_id, func.count().label("n")).group_by(col(Item.ledger_id)).subquery()
    )
    query = (
        select(Ledger, func.coalesce(counts.c.n, 0))
        .outerjoin(counts, counts.c.ledger_id == col(Ledger.id))
        .order_by(col(Ledger.id))
    )
    if code is not None:
        query = query.where(col(Ledger.code) == code)
    elif not include_archived:
        query = query.where(_in_use())
    rows = await session.exec(query)
    return [LedgerPublic(**ledger.model_dump(), item_count=n) for ledger, n in rows]


async def get_ledger_public(session: AsyncSession, code: str) -> LedgerPublic:
    found = await list_ledgers(session, code=code)
    if not found:
        raise NotFound(f"ledger '{code}' does not exist", code="ledger_not_found")
    return found[0]


async def archive_ledger(
    session: AsyncSession, code: str, *, by: str, reason: str, now: datetime
) -> LedgerPublic:
    """Archive a ledger (归档), e.g. one imported by mistake: it leaves the lists, dashboards,
    ranking and reminders; its items, updates and evidence are kept and can still be read."""
    ledger = await get_ledger(session, code)
    if ledger.archived_at is not None:
        raise Conflict(f"ledger '{code}' is already archived", code="ledger_archived")
    ledger.archived_at = now
    ledger.archived_by = by
    ledger.archive_reason = reason.strip()
    session.add(ledger)
    await session.flush()
    return await get_ledger_public(session, code)


async def restore_ledger(session: AsyncSession, code: str) -> LedgerPublic:
    """Bring an archived ledger back into use (取消归档)."""
    ledger = await get_ledger(session, code)
    if ledger.archived_at is None:
        raise Conflict(f"ledger '{code}' is not archived", code="ledger_not_archived")
    ledger.archived_at = None
    ledger.archived_by = None
    ledger.archive_reason = ""
    session.add(ledger)
    await session.flush()
    return await get_ledger_public(session, code)


async def ensure_in_use(session: AsyncSession, item_id: int) -> None:
    """Refuse a change to an item of an archived ledger."""
    archived = (
        await session.exec(
            select(Ledger.code)
            .join(Item, col(Item.ledger_id) == col(Ledger.id))
            .where(col(Item.id) == item_id, col(Ledger.archived_at).is_not(None))
        )
    ).first()
    if archived is not None:
        raise Conflict(
            f"ledger '{archived}' is archived; its items take no updates", code="ledger_archived"
        )


async def unit_ids_by_name(session: AsyncSession, names: Sequence[str]) -> dict[str, int]:
    """Ids of the named units, creating those not yet known."""
    wanted = set(names)
    found = await session.exec(select(Unit).where(col(Unit.name).in_(wanted)))
    ids = {u.name: u.id for u in found if u.id is not None}
    for name in sorted(wanted - ids.keys()):
        unit = Unit(name=name)
        session.add(unit)
        await session.flush()
        assert unit.id is not None
        ids[name] = unit.id
    return ids


async def get_unit(session: AsyncSession, unit_id: int) -> Unit:
    unit = await session.get(Unit, unit_id)
    if unit is None:
        raise NotFound(f"unit {unit_id} does not exist", code="unit_not_found")
    return unit


async def list_units(session: AsyncSession) -> list[Unit]:
    return list((await session.exec(select(Unit).order_by(col(Unit.name)))).all())


async def create_ledger(
    session: AsyncSession,
    *,
    code: str,
    name: str,
    rows: Sequence[NewItem],
    issuer: str = "",
    document_no: str = "",
    source: str = "",
    plan_end: date | None = None,
    now: datetime,
) -> Ledger:
    """Store a ledger and all its items in the caller's transaction.

    Rows must already be valid (see :func:`check_rows`); a clash of codes is a 409.
    """
    existing = await session.exec(select(Ledger.id).where(col(Ledger.code) == code))
    if existing.first() is not None:
        raise Conflict(f"ledger '{code}' already exists", code="ledger_exists")
    ledger = Ledger(
        code=code,
        name=name,
        issuer=issuer,
        document_no=document_no,
        source=source,
        plan_end=plan_end,
        created_at=now,
    )
    session.add(ledger)
    await session.flush()
    assert ledger.id is not None
    parsed = [
        (row, parse_due(row.due_text), parse_responsibilities(row.responsible_text)) for row in rows
    ]
    unit_ids = await unit_ids_by_name(session, [r.unit for _, _, rs in parsed for r in rs])
    items = [
        Item(
            ledger_id=ledger.id,
            seq=row.seq,
            category=row.category,
            task=row.task,
            responsible_text=row.responsible_text,
            due_text=row.due_text,
            due_kind=due.kind,
            due_date=due.on,
        )
        for row, due, _ in parsed
    ]
    session.add_all(items)
    await session.flush()
    session.add_all(
        [
            ItemUnit(
                item_id=item.id, unit_id=unit_ids[resp.unit], role=resp.role, position=position
            )
            for item, (_, _, responsibilities) in zip(items, parsed, strict=True)
            if item.id is not None
            for position, resp in enumerate(responsibilities)
        ]
    )
    await session.flush()
    return ledger


# ---- dashboards and rankings -----------------------------------------------------------------


class StatusCount(SQLModel):
    status: TaskStatus
    status_label: str
    count: int


class UnitDashboard(SQLModel):
    """A unit's page (单位看板): its items by status and what is overdue."""

    unit_id: int
    unit: str
    as_of: date
    total: int
    by_status: list[StatusCount]
    overdue_count: int
    due_soon_count: int
    overdue: list[ItemPublic]


async def unit_dashboard(
    session: AsyncSession, unit_id: int, *, as_of: date, ledger_code: str | None = None
) -> UnitDashboard:
    unit = await get_unit(session, unit_id)
    state = state_columns(as_of)
    flt = ItemFilter(ledger_code=ledger_code, unit_id=unit_id)
    base = _filtered(
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


class UnitStanding(SQLModel):
    """A unit's line in the 通报: how many of its items are overdue or stale (久未更新)."""

    rank: int
    unit_id: int
    unit: str
    items: int
    overdue: int
    stale: int


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
    query = query.where(col(Ledger.code) == ledger_code) if ledger_code else query.where(_in_use())
    rows = sorted(await fetch_all(session, query), key=lambda r: (-(r[3] or 0), -(r[4] or 0), r[1]))
    return [
        UnitStanding(rank=i, unit_id=uid, unit=name, items=n, overdue=late or 0, stale=old or 0)
        for i, (uid, name, n, late, old) in enumerate(rows, start=1)
    ]


# ---- deadline feed for notify ----------------------------------------------------------------


class FeedRecipient(SQLModel):
    username: str
    display_name: str
    email: str


class FeedUnit(SQLModel):
    """A unit answering for the item, and whom to remind for it: its own department heads, or,
    when it has none, those of its nearest ancestor that has (``heads_of`` names that unit; it
    is ``name`` itself when the unit has heads, and when no ancestor has any either)."""

    id: int
    name: str
    role: ResponsibilityRole
    heads: list[FeedRecipient]
    heads_of: str


class DeadlineFeedEntry(SQLModel):
    item_id: int
    ledger_code: str
    seq: int
    task: str
    due_text: str
    due_date: date
    status: TaskStatus
    status_label: str
    overdue: bool
    days_left: int
    units: list[FeedUnit]


class DeadlineFeed(SQLModel):
    """Items due within N days or overdue (临期及逾期事项), with whom to remind."""

    as_of: date
    within_days: int
    entries: list[DeadlineFeedEntry]


async def deadline_feed(session: AsyncSession, *, as_of: date, within_days: int) -> DeadlineFeed:
    state = state_columns(as_of, within_days)
    rows = await fetch_all(
        session,
        _item_rows(state)
        .where(or_(state.overdue, state.due_soon), _in_use())
        .order_by(col(Item.due_date), col(Ledger.code), col(Item.seq)),
    )
    items = await _to_public(session, rows, as_of)
    names = {u.name for item in items for u in item.units}
    # Only department heads answer for items: a clerk, a dispatcher or a supervising leader
    # bound to the same unit is not reminded of its deadlines.
    people = await reachable_people(session, names, [Role.dept_head])
    heads = {
        unit: [
            FeedRecipient(username=u.username, display_name=u.display_name, email=u.email)
            for u in users
            if u.email
        ]
        for (unit, _), users in people.items()
    }
    reached = {name: nearest(name, heads) or name for name in names}
    return DeadlineFeed(
        as_of=as_of,
        within_days=within_days,
        entries=[
            DeadlineFeedEntry(
                item_id=item.id,
                ledger_code=item.ledger_code,
                seq=item.seq,
                task=item.task,
                due_text=item.due_text,
                due_date=item.due_date,
                status=item.status,
                status_label=item.status_label,
                overdue=item.overdue,
                days_left=(item.due_date - as_of).days,
                units=[
                    FeedUnit(
                        id=u.id,
                        name=u.name,
                        role=u.role,
                        heads=heads.get(reached[u.name], []),
                        heads_of=reached[u.name],
                    )
                    for u in item.units
                ],
            )
            for item in items
            if item.due_date is not None
        ],
    )
