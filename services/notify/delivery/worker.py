"""The delivery worker (投递): claims due messages, sends them, records sent / failed / dead.

A round claims, per configured channel, up to the channel's remaining per-minute budget of due
messages whose delivery window is open, in one short transaction: on PostgreSQL the rows are picked
with ``FOR UPDATE SKIP LOCKED`` under a per-channel advisory lock, so several workers share the
queue and the rate limit holds across them; SQLite has one writer at a time. Claiming bumps
``attempts`` and leases the message (``next_attempt_at`` moves ``lease_seconds`` ahead), so a
worker that dies mid-send leaves it to be retried, never lost. Sends happen outside any
transaction; each outcome is then written only if the lease is still the worker's own.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import func, text, update
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.notify.delivery.channels import Channels, DeliveryFailed, Outgoing, Sender
from services.notify.delivery.windows import DeliveryHours
from services.notify.messages.models import Channel, DeliveryWindow, Message, MessageState
from services.notify.settings import NotifySettings
from shared.clock import Clock
from shared.db import session_scope

log = logging.getLogger("huodian.notify.delivery")

_RETRYABLE = (MessageState.queued, MessageState.failed)
_CHANNEL_LOCK_BASE = 72_031_000
_PARALLEL_SENDS = 8


@dataclass
class DeliveryRound:
    """What one round did (一轮投递)."""

    claimed: int = 0
    sent: int = 0
    failed: int = 0
    dead: int = 0
    by_channel: dict[str, int] = field(default_factory=dict)

    def add(self, other: DeliveryRound) -> None:
        self.claimed += other.claimed
        self.sent += other.sent
        self.failed += other.failed
        self.dead += other.dead
        for channel, n in other.by_channel.items():
            self.by_channel[channel] = self.by_channel.get(channel, 0) + n


@dataclass(frozen=True)
class _Claimed:
    message: Outgoing
    attempts: int
    window: DeliveryWindow


@dataclass(frozen=True)
class _Outcome:
    claimed: _Claimed
    error: DeliveryFailed | None


def backoff(settings: NotifySettings, attempts: int) -> timedelta:
    """Wait before the next try after ``attempts`` failed ones: base × 2^(attempts−1), capped."""
    seconds = settings.backoff_base_seconds * 2 ** max(attempts - 1, 0)
    return timedelta(seconds=min(seconds, settings.backoff_max_seconds))


async def _claim(
    session: AsyncSession,
    channel: Channel,
    settings: NotifySettings,
    hours: DeliveryHours,
    now: datetime,
) -> list[_Claimed]:
    if session.get_bind().dialect.name == "postgresql":
        # Serialises claims of one channel (and so its rate budget) across this schema's workers.
        connection = await session.connection()
        await connection.execute(
            text("SELECT pg_advisory_xact_lock(:key, hashtext(current_schema()))"),
            {"key": _CHANNEL_LOCK_BASE + list(Channel).index(channel)},
        )
    limit = settings.rate_per_minute.get(channel.value)
    budget = settings.worker_batch
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
        return []
    due = (
        select(Message.id)
        .where(
            col(Message.channel) == channel,
            col(Message.state).in_(_RETRYABLE),
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
        )
    )
    return [
        _Claimed(Outgoing(row[0], row[1], row[2], channel, row[3], row[4], row[5]), row[6], row[7])
        for row in claimed.all()
    ]


async def _attempt(sender: Sender, claimed: _Claimed, gate: asyncio.Semaphore) -> _Outcome:
    async with gate:
        try:
            await sender.send(claimed.message)
        except DeliveryFailed as exc:
            return _Outcome(claimed, exc)
        except Exception as exc:  # a sender bug must not lose the message: retry it later
            log.exception("sending message %s failed unexpectedly", claimed.message.id)
            return _Outcome(claimed, DeliveryFailed(f"unexpected error: {exc!r}"))
    return _Outcome(claimed, None)


async def _record(
    session: AsyncSession,
    outcome: _Outcome,
    settings: NotifySettings,
    hours: DeliveryHours,
    now: datetime,
) -> MessageState:
    message, attempts, error = outcome.claimed.message, outcome.claimed.attempts, outcome.error
    values: dict[str, object]
    if error is None:
        state = MessageState.sent
        values = {"state": state, "sent_at": now, "last_error": None}
    elif error.permanent or attempts >= settings.max_attempts:
        state = MessageState.dead
        values = {"state": state, "last_error": error.reason[:2000]}
    else:
        state = MessageState.failed
        retry_at = now + backoff(settings, attempts)
        values = {
            "state": state,
            "last_error": error.reason[:2000],
            "next_attempt_at": hours.earliest(outcome.claimed.window, retry_at),
        }
    # Only if nobody re-claimed it after our lease ran out.
    await session.exec(
        update(Message)
        .where(col(Message.id) == message.id, col(Message.attempts) == attempts)
        .values(**values)
    )
    return state


async def deliver_due(
    engine: AsyncEngine,
    channels: Channels,
    settings: NotifySettings,
    hours: DeliveryHours,
    *,
    now: datetime,
) -> DeliveryRound:
    """One round over every configured channel; callable directly (tests, a CLI) or by the
    background worker."""
    result = DeliveryRound()
    gate = asyncio.Semaphore(_PARALLEL_SENDS)
    for channel, sender in channels.senders.items():
        async with session_scope(engine) as session:
            claimed = await _claim(session, channel, settings, hours, now)
        if not claimed:
            continue
        outcomes = await asyncio.gather(*(_attempt(sender, c, gate) for c in claimed))
        round_ = DeliveryRound(claimed=len(claimed), by_channel={channel.value: len(claimed)})
        async with session_scope(engine) as session:
            for outcome in outcomes:
                state = await _record(session, outcome, settings, hours, now)
                if state is MessageState.sent:
                    round_.sent += 1
                elif state is MessageState.dead:
                    round_.dead += 1
                else:
                    round_.failed += 1
        result.add(round_)
    return result


class DeliveryWorker:
    """Runs :func:`deliver_due` in the background until stopped; a busy round is followed
    at once by the next, an idle one by a pause of ``worker_poll_seconds``."""

    def __init__(
        self,
        engine: AsyncEngine,
        channels: Channels,
        settings: NotifySettings,
        hours: DeliveryHours,
        clock: Clock,
    ) -> None:
        self._engine = engine
        self._clock = clock
        self._channels = channels
        self._settings = settings
        self._hours = hours
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def use_hours(self, hours: DeliveryHours) -> None:
        """Deliver by new delivery hours from the next round on (a calendar year was loaded)."""
        self._hours = hours

    def start(self) -> None:
        if not self.running:
            self._task = asyncio.create_task(self._run(), name="notify-delivery-worker")

    def wake(self) -> None:
        """Start the next round now (e.g. after a request queued urgent messages)."""
        self._wake.set()

    async def stop(self, grace_seconds: float = 30.0) -> None:
        """Finish the round under way (so outcomes are recorded), then stop."""
        if self._task is None:
            return
        self._stopping = True
        self._wake.set()
        try:
            await asyncio.wait_for(asyncio.shield(self._task), grace_seconds)
        except TimeoutError:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self._task = None
        self._stopping = False

    async def _run(self) -> None:
        while not self._stopping:
            busy = False
            try:
                done = await deliver_due(
                    self._engine,
                    self._channels,
                    self._settings,
                    self._hours,
                    now=self._clock.now(),
                )
                busy = done.claimed > 0
            except Exception:  # the database may be down: log, wait, try again
                log.exception("delivery round failed")
            if busy or self._stopping:
                continue
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._settings.worker_poll_seconds)
