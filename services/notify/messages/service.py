"""The message queue (消息队列): enqueue once per dedup key, list, and re-send dead letters."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, update
from sqlmodel import SQLModel, col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.notify.delivery.channels import recipient_problem
from services.notify.delivery.windows import DeliveryHours
from services.notify.messages.models import (
    Channel,
    DeliveryWindow,
    Message,
    MessageFilter,
    MessagePage,
    MessagePublic,
    MessageState,
    ResendResult,
)
from services.notify.templates.models import Rendered
from shared.db import insert_ignore
from shared.errors import Conflict, NotFound
from shared.logs import current_request_id
from shared.pagination import FIRST_PAGE, PageParams, fetch_page


class NewMessage(SQLModel):
    dedup_key: str
    kind: str
    channel: Channel
    recipient: str
    subject: str
    body: str
    state: MessageState = MessageState.queued
    window: DeliveryWindow = DeliveryWindow.waking_hours
    last_error: str | None = None
    subscriber_id: int | None = None
    outage_id: int | None = None


def unresolved_message(
    unit: str, nobody: str, *, dedup_key: str, kind: str, text: Rendered, window: DeliveryWindow
) -> NewMessage:
    """The email nobody at ``unit`` can be sent (no active ``nobody``, e.g. "clerk", with an
    email is bound to it): stored dead, to ``unit:<name>``, so the failure shows in the
    delivery log (投递记录) instead of vanishing."""
    return NewMessage(
        dedup_key=dedup_key,
        kind=kind,
        channel=Channel.email,
        recipient=f"unit:{unit}",
        subject=text.subject,
        body=text.body,
        window=window,
        state=MessageState.dead,
        last_error=f"no active {nobody} with an email is bound to unit '{unit}'",
    )


async def enqueue(
    session: AsyncSession,
    messages: list[NewMessage],
    *,
    hours: DeliveryHours | None = None,
    now: datetime,
) -> int:
    """Insert messages, skipping any whose dedup key is already queued; returns how many are new.

    One ``INSERT … ON CONFLICT DO NOTHING`` keeps "exactly one per (event, recipient, channel)"
    true even when two schedulers race. With ``hours``, a message is due when its delivery
    window next opens. Nothing is sent before the caller's transaction commits: the worker only
    sees committed rows.
    """
    if not messages:
        return 0
    bind = session.get_bind()
    rows = [
        {
            **m.model_dump(),
            "created_at": now,
            "next_attempt_at": hours.earliest(m.window, now) if hours else now,
            "request_id": current_request_id(),
        }
        for m in messages
    ]
    statement = insert_ignore(Message, bind.dialect, conflict=["dedup_key"]).values(rows)
    result = await session.exec(statement.returning(col(Message.id)))
    return len(result.all())


async def list_messages(
    session: AsyncSession, where: MessageFilter, paging: PageParams = FIRST_PAGE
) -> MessagePage:
    query = select(Message)
    for name, value in where.model_dump(exclude_none=True).items():
        query = query.where(getattr(Message, name) == value)
    total, rows = await fetch_page(session, query, paging, col(Message.id))
    return MessagePage(
        total=total,
        limit=paging.limit,
        offset=paging.offset,
        items=[MessagePublic.model_validate(m, from_attributes=True) for m in rows],
    )


async def delivery_counts(
    session: AsyncSession, outage_id: int | None = None
) -> dict[tuple[MessageState, Channel], int]:
    """How many messages are in each state, per channel: an outage's (投递进度), or the whole
    queue's when ``outage_id`` is None (消息队列)."""
    query = select(col(Message.state), col(Message.channel), func.count())
    if outage_id is not None:
        query = query.where(col(Message.outage_id) == outage_id)
    rows = await session.exec(query.group_by(col(Message.state), col(Message.channel)))
    return {(MessageState(state), Channel(channel)): n for state, channel, n in rows}


async def get_message(session: AsyncSession, message_id: int) -> Message:
    message = await session.get(Message, message_id)
    if message is None:
        raise NotFound(f"message {message_id} does not exist", code="message_not_found")
    return message


async def resend(session: AsyncSession, message_id: int, *, now: datetime) -> Message:
    """Put a dead or failed message back in the queue, due now, with fresh attempts (重发)."""
    message = await get_message(session, message_id)
    if message.state not in (MessageState.dead, MessageState.failed):
        raise Conflict(
            f"message {message_id} is {message.state.value}; only dead or failed ones are re-sent",
            code="message_not_resendable",
        )
    problem = recipient_problem(message.channel, message.recipient)
    if problem:
        raise Conflict(
            f"message {message_id} has no address to send to ({problem}); fix the contact and "
            "trigger the message again",
            code="recipient_unresolved",
        )
    message.state = MessageState.queued
    message.attempts = 0
    message.next_attempt_at = now
    session.add(message)
    await session.flush()
    return message


async def resend_dead(
    session: AsyncSession,
    *,
    kind: str | None,
    channel: Channel | None,
    now: datetime,
) -> ResendResult:
    """Re-queue every dead letter (of a kind / channel) that has an address to send to."""
    query = select(Message.id, Message.channel, Message.recipient).where(
        col(Message.state) == MessageState.dead
    )
    if kind is not None:
        query = query.where(col(Message.kind) == kind)
    if channel is not None:
        query = query.where(col(Message.channel) == channel)
    ids = [
        i
        for i, ch, to in (await session.exec(query)).all()
        if not recipient_problem(Channel(ch), to)
    ]
    for start in range(0, len(ids), 1000):
        await session.exec(
            update(Message)
            .where(col(Message.id).in_(ids[start : start + 1000]))
            .values(state=MessageState.queued, attempts=0, next_attempt_at=now)
        )
    return ResendResult(requeued=len(ids))
