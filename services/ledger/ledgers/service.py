"""Ledgers (任务台账): loading a plan with its items, and reading ledgers back.

Items are in :mod:`.items`, their derived state in :mod:`.state`, archiving in :mod:`.archiving`,
units in :mod:`.units`, dashboards and the 通报 ranking in :mod:`.dashboards`, the deadline feed
for notify in :mod:`.feed`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.ledger.ledgers.models import Item, ItemUnit, Ledger, LedgerPublic
from services.ledger.ledgers.parsing import parse_due, parse_responsibilities
from services.ledger.ledgers.state import in_use
from services.ledger.ledgers.units import unit_ids_by_name
from shared.errors import Conflict, NotFound


@dataclass(frozen=True)
class NewItem:
    """One ledger row as read from a data file or a spreadsheet, before it is stored."""

    seq: int
    category: str
    task: str
    responsible_text: str
    due_text: str


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
        query = query.where(in_use())
    rows = await session.exec(query)
    return [LedgerPublic(**ledger.model_dump(), item_count=n) for ledger, n in rows]


async def get_ledger_public(session: AsyncSession, code: str) -> LedgerPublic:
    found = await list_ledgers(session, code=code)
    if not found:
        raise NotFound(f"ledger '{code}' does not exist", code="ledger_not_found")
    return found[0]


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
