"""The circuit breaker (熔断), per channel: a channel marked down, probed, and marked up again.

A failure of the channel's server (the SMTP server, the SMS gateway: see
``DeliveryFailed.channel_down``) gives the attempt back and marks the channel down
(``channel_health``). While it is down its messages wait, using no attempts; one message is sent
as a probe when ``next_probe_at`` comes (the retry backoff, capped at
``channel_probe_max_seconds``), and the first probe that succeeds marks the channel up and lets
the queue flow. Only a message's own failures (a refused address, a permanent 5xx, its own
passing failures beyond ``max_attempts``) make a dead letter.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import col

from services.notify.delivery.channels import DeliveryFailed
from services.notify.delivery.models import ChannelHealth
from services.notify.delivery.outcomes import backoff
from services.notify.messages.models import Channel
from services.notify.settings import NotifySettings
from shared.db import insert_ignore, session_scope

log = logging.getLogger("huodian.notify.delivery")


def probe_wait(settings: NotifySettings, failures: int) -> timedelta:
    """Wait before probing a channel that is down after ``failures`` failed probes."""
    return min(backoff(settings, failures), timedelta(seconds=settings.channel_probe_max_seconds))


async def mark_down(
    engine: AsyncEngine,
    channel: Channel,
    error: DeliveryFailed,
    settings: NotifySettings,
    *,
    probing: bool,
    now: datetime,
) -> None:
    async with session_scope(engine) as session:
        await session.exec(
            insert_ignore(ChannelHealth, session.get_bind().dialect, conflict=["channel"]).values(
                channel=channel.value, failures=0
            )
        )
        health = await session.get(ChannelHealth, channel.value, with_for_update=True)
        assert health is not None
        if health.down_since is None:
            health.down_since, health.failures = now, 1
            log.warning("channel %s is down: %s", channel.value, error.reason)
        elif probing:
            health.failures += 1
        else:
            return  # another send of the same batch already marked it down
        health.next_probe_at = now + probe_wait(settings, health.failures)
        health.last_error = error.reason[:2000]
        session.add(health)


async def mark_up(engine: AsyncEngine, channel: Channel) -> None:
    async with session_scope(engine) as session:
        await session.exec(
            update(ChannelHealth)
            .where(col(ChannelHealth.channel) == channel.value)
            .values(down_since=None, failures=0, next_probe_at=None)
        )
    log.warning("channel %s is up again", channel.value)
