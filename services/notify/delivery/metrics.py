"""Notify's figures on ``/metrics``: the queue by channel and state, deliveries and failed
attempts by channel, each channel's health, and whether this replica leads the scheduler.
Counted in SQL at scrape time, so every replica reports the same queue."""

from __future__ import annotations

from fastapi import FastAPI
from sqlalchemy import func
from sqlmodel import col, select

from services.notify.delivery.models import ChannelHealth
from services.notify.messages.models import Message, MessageState
from shared.db import session_scope
from shared.metrics import Figure


async def notify_figures(app: FastAPI) -> list[Figure]:
    channel, state = col(Message.channel), col(Message.state)
    figures: list[Figure] = []
    async with session_scope(app.state.engine) as session:
        queue = await session.exec(
            select(
                channel,
                state,
                func.count(),
                func.coalesce(func.sum(col(Message.attempts)), 0),
            ).group_by(channel, state)
        )
        failed_attempts: dict[str, float] = {}
        for channel_name, state_name, count, attempts in queue.all():
            labels = {"channel": str(channel_name), "state": str(state_name)}
            figures.append(
                Figure("notify_messages", "Messages by channel and state", count, labels)
            )
            if state_name == MessageState.sent.value:
                figures.append(
                    Figure(
                        "notify_deliveries",
                        "Messages the far end took, by channel",
                        count,
                        {"channel": str(channel_name)},
                        kind="counter",
                    )
                )
            # Every attempt but the one that delivered failed.
            failed = float(attempts) - (count if state_name == MessageState.sent.value else 0)
            failed_attempts[str(channel_name)] = failed_attempts.get(str(channel_name), 0) + failed
        figures += [
            Figure(
                "notify_failed_attempts",
                "Delivery attempts that failed, by channel",
                value,
                {"channel": name},
                kind="counter",
            )
            for name, value in sorted(failed_attempts.items())
        ]
        health = await session.exec(select(ChannelHealth))
        figures += [
            Figure(
                "notify_channel_down",
                "1 while the channel's server is marked down (circuit open)",
                1.0 if row.down_since is not None else 0.0,
                {"channel": row.channel},
            )
            for row in health.all()
        ]
    scheduler = getattr(app.state, "scheduler", None)
    leads = scheduler is not None and bool(scheduler.active)
    figures.append(
        Figure("notify_scheduler_leader", "1 if this replica runs the scheduler", float(leads))
    )
    return figures
