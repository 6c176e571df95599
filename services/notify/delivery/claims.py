"""Claiming due messages (认领): a short transaction per channel that leases a small batch.

A round claims, per configured channel, a small batch (``worker_batch``, at most the channel's
remaining per-minute budget) of due messages whose delivery window is open, in one short
transaction: on PostgreSQL the rows are picked with ``FOR UPDATE SKIP LOCKED`` under a
per-channel advisory lock, so several workers share the queue and the rate limit holds across
them; SQLite has one writer at a time. Claiming marks a message ``sending``, bumps ``attempts``
and leases it (``next_attempt_at`` moves ``lease_seconds`` ahead), so a worker that dies mid-send
leaves it to be claimed again when the lease runs out, never lost. Such a re-claimed message
is flagged ``possible_duplicate`` (可能重复), with ``earlier_attempt_at`` the start of the attempt
that was cut off: the one case where the far end may have two copies is visible on the row.
A channel that is down (``breaker.py``) gives one message at a time, its probe.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import case, func, text, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.notify.delivery.channels import Outgoing
from services.notify.delivery.models import ChannelHealth
from services.notify.delivery.windows import DeliveryHours
from services.notify.messages.models import Channel, DeliveryWindow, Message, MessageState
from services.notify.settings import NotifySettings

# ``sending`` ones are claimable again once their lease has run out (their worker died).
_CLAIMABLE = (MessageState.queued, MessageState.failed, MessageState.sending)
_CHANNEL_LOCK_BASE = 72_031_000


@dataclass(frozen=True)
class Claimed:
    """A message claimed for one attempt: what to send, the attempt's number, its window."""

    message: Outgoing
    attempts: int
    window: DeliveryWindow
    request_id: str | None = None  # the message's, so that its send is logged with it


@dataclass(frozen=True)
class Claim:
    """What one claim took from a channel."""

    messages: list[Claimed]
    probing: bool  # the channel is down and this is its probe


async def claim(
    session: AsyncSession,
    channel: Channel,
    settings: NotifySettings,
    hours: DeliveryHours,
    now: datetime,
) -> Claim:
    if session.get_bind().dialect.name == "postgresql":
        # Serialises claims of one channel (its rate budget, its probe) across the workers.
        connection = await session.connection()
        await connection.execute(
            text("SELECT pg_advisory_xact_lock(:key, hashtext(current_schema()))"),
            {"key": _CHANNEL_LOCK_BASE + list(Channel).index(channel)},
        )
    nothing = Claim([], probing=False)
    health = await session.get(ChannelHealth, channel.value)
    probing = health is not None and health.down_since is not None
    if health is not None and probing:
        if health.next_probe_at is not None and health.next_probe_at > now:
            return nothing
    limit = settings.rate_per_minute.get(channel.value)
    budget = 1 if probing else settings.worker_batch
    if limit is not None:
        recent = await session.exec(
            select(func.count())
            .select_from(Message)
            .where(
                col(Message.channel) == channel,
                col(Message.last_attempt_at) > now - timedelta(minutes=1),
            )
        )
        budget = min(budget, limit - recent.one())
    if budget <= 0:
        return nothing
    due = (
        select(Message.id)
        .where(
            col(Message.channel) == channel,
            col(Message.state).in_(_CLAIMABLE),
            col(Message.next_attempt_at) <= now,
            col(Message.window).in_(hours.open_windows(now)),
        )
        .order_by(col(Message.next_attempt_at), col(Message.id))
        .limit(budget)
        .with_for_update(skip_locked=True)
    )
    claimed = await session.exec(
        update(Message)
        .where(col(Message.id).in_(due.scalar_subquery()))
        .values(
            # Still ``sending`` when claimed: its worker died (or its lease ran out) mid-send, so
            # the far end may hold a copy already. Flagged, with when that attempt started (the
            # right-hand sides read the row as it was before this UPDATE).
            possible_duplicate=case(
                (col(Message.state) == MessageState.sending, True),
                else_=col(Message.possible_duplicate),
            ),
            earlier_attempt_at=case(
                (col(Message.state) == MessageState.sending, col(Message.last_attempt_at)),
                else_=col(Message.earlier_attempt_at),
            ),
            state=MessageState.sending,
            attempts=col(Message.attempts) + 1,
            last_attempt_at=now,
            next_attempt_at=now + timedelta(seconds=settings.lease_seconds),
        )
        .returning(
            col(Message.id),
            col(Message.dedup_key),
            col(Message.kind),
            col(Message.recipient),
            col(Message.subject),
            col(Message.body),
            col(Message.attempts),
            col(Message.window),
            col(Message.request_id),
        )
    )
    rows = claimed.all()
    if health is not None and probing and rows:
        # One probe at a time: the next waits for this one's outcome (or its lease).
        health.next_probe_at = now + timedelta(seconds=settings.lease_seconds)
        session.add(health)
    return Claim(
        [
            Claimed(
                Outgoing(row[0], row[1], row[2], channel, row[3], row[4], row[5]),
                row[6],
                row[7],
                row[8],
            )
            for row in rows
        ],
        probing=probing,
    )
