"""What the delivery side shows operators: the state of each channel (渠道状态)."""

from __future__ import annotations

from collections.abc import Collection

from sqlalchemy import func
from sqlalchemy import select as sa_select
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.notify.delivery.models import ChannelHealth, ChannelHealthPublic
from services.notify.messages.models import Channel, Message, MessageState
from shared.db import fetch_all

_WAITING = (MessageState.queued, MessageState.sending, MessageState.failed)


async def channel_health(
    session: AsyncSession, configured: Collection[Channel]
) -> list[ChannelHealthPublic]:
    """Every channel: configured or not, down or up (the circuit breaker), messages waiting,
    messages that may have reached their recipient twice."""
    rows = {h.channel: h for h in await session.exec(select(ChannelHealth))}
    waiting: dict[str, int] = dict(
        await fetch_all(
            session,
            sa_select(col(Message.channel), func.count())
            .where(col(Message.state).in_(_WAITING))
            .group_by(col(Message.channel)),
        )
    )
    flagged: dict[str, int] = dict(
        await fetch_all(
            session,
            sa_select(col(Message.channel), func.count())
            .where(col(Message.possible_duplicate))
            .group_by(col(Message.channel)),
        )
    )
    listed = []
    for channel in Channel:
        health = rows.get(channel.value)
        down = health is not None and health.down_since is not None
        listed.append(
            ChannelHealthPublic(
                channel=channel,
                configured=channel in configured,
                down=down,
                down_since=health.down_since if health else None,
                failures=health.failures if health and down else 0,
                next_probe_at=health.next_probe_at if health and down else None,
                last_error=health.last_error if health else None,
                waiting=waiting.get(channel, 0),
                possible_duplicates=flagged.get(channel, 0),
            )
        )
    return listed
