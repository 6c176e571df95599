"""The deadline feed for notify (临期逾期提醒源): items due soon or overdue, and whom to remind."""

from __future__ import annotations

from datetime import date

from sqlalchemy import or_
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from services.ledger.accounts.service import reachable_people
from services.ledger.ledgers.items import item_rows, to_public
from services.ledger.ledgers.models import (
    DeadlineFeed,
    DeadlineFeedEntry,
    FeedRecipient,
    FeedUnit,
    Item,
    Ledger,
)
from services.ledger.ledgers.state import in_use, state_columns
from shared.auth import Role
from shared.db import fetch_all
from shared.units import nearest


async def deadline_feed(session: AsyncSession, *, as_of: date, within_days: int) -> DeadlineFeed:
    state = state_columns(as_of, within_days)
    rows = await fetch_all(
        session,
        item_rows(state)
        .where(or_(state.overdue, state.due_soon), in_use())
        .order_by(col(Item.due_date), col(Ledger.code), col(Item.seq)),
    )
    items = await to_public(session, rows, as_of)
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
