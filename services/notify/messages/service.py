"""The message queue (消息队列): enqueue once per dedup key, list, and see what failed."""

from __future__ import annotations

from sqlalchemy import func
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import SQLModel, col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.notify.messages.models import Channel, Message, MessagePublic, MessageState
from shared.db import utcnow


class NewMessage(SQLModel):
    dedup_key: str
    kind: str
    channel: Channel
    recipient: str
    subject: str
    body: str
    state: MessageState = MessageState.queued
    last_error: str | None = None


class MessagePage(SQLModel):
    total: int
    limit: int
    offset: int
    messages: list[MessagePublic]


async def enqueue(session: AsyncSession, messages: list[NewMessage]) -> int:
    """Insert messages, skipping any whose dedup key is already queued; returns how many are new.

    One ``INSERT … ON CONFLICT DO NOTHING`` keeps "exactly one per (event, recipient, channel)"
    true even when two schedulers race.
    """
    if not messages:
        return 0
    bind = session.get_bind()
    insert = pg_insert if bind.dialect.name == "postgresql" else sqlite_insert
    now = utcnow()
    rows = [{**m.model_dump(), "created_at": now, "next_attempt_at": now} for m in messages]
    statement = insert(Message).values(rows).on_conflict_do_nothing(index_elements=["dedup_key"])
    result = await session.exec(statement.returning(col(Message.id)))
    return len(result.all())


async def list_messages(
    session: AsyncSession, *, state: MessageState | None, kind: str | None, limit: int, offset: int
) -> MessagePage:
    query = select(Message)
    if state is not None:
        query = query.where(col(Message.state) == state)
    if kind is not None:
        query = query.where(col(Message.kind) == kind)
    total = (await session.exec(select(func.count()).select_from(query.subquery()))).one()
    rows = await session.exec(query.order_by(col(Message.id)).limit(limit).offset(offset))
    return MessagePage(
        total=total,
        limit=limit,
        offset=offset,
        messages=[MessagePublic.model_validate(m, from_attributes=True) for m in rows],
    )
