"""Archiving a ledger (台账归档): it leaves every list but keeps its history."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.ledger.ledgers.models import Item, Ledger, LedgerPublic
from services.ledger.ledgers.service import get_ledger, get_ledger_public
from shared.errors import Conflict


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
