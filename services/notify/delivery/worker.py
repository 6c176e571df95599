"""The delivery worker (投递): claims due messages, sends them, records each outcome at once.

Each round claims, per configured channel, a small leased batch of due messages in one short
transaction (``claims.py``: ``FOR UPDATE SKIP LOCKED``, one rate limit across workers), sends
them outside any transaction, a few at a time, and commits each outcome in its own transaction
the moment the far end has taken the message (``outcomes.py``). A failure of the channel's
server marks the channel down, and its messages wait for a probe to succeed (the circuit
breaker, 熔断: ``breaker.py``).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Engine
from sqlalchemy.ext.asyncio import AsyncEngine

from services.notify.delivery.breaker import mark_down, mark_up
from services.notify.delivery.channels import Channels, DeliveryFailed, Sender
from services.notify.delivery.claims import Claimed, claim
from services.notify.delivery.outcomes import SentRecorder, record_failure
from services.notify.delivery.windows import DeliveryHours
from services.notify.messages.models import MessageState
from services.notify.settings import NotifySettings
from shared.clock import Clock
from shared.db import session_scope
from shared.logs import current_request_id, request_id_scope
from shared.periodic import Periodic

log = logging.getLogger("huodian.notify.delivery")

_PARALLEL_SENDS = 8
_RETRY_CAP_SECONDS = 60.0


@dataclass
class DeliveryRound:
    """What one round did (一轮投递). ``held``: given back because the channel is down."""

    claimed: int = 0
    sent: int = 0
    failed: int = 0
    dead: int = 0
    held: int = 0
    by_channel: dict[str, int] = field(default_factory=dict)

    def add(self, other: DeliveryRound) -> None:
        self.claimed += other.claimed
        self.sent += other.sent
        self.failed += other.failed
        self.dead += other.dead
        self.held += other.held
        for channel, n in other.by_channel.items():
            self.by_channel[channel] = self.by_channel.get(channel, 0) + n


async def _deliver_one(
    engine: AsyncEngine,
    sync_engine: Engine,
    sender: Sender,
    claimed: Claimed,
    settings: NotifySettings,
    hours: DeliveryHours,
    gate: asyncio.Semaphore,
    *,
    probing: bool,
    now: datetime,
) -> MessageState:
    # Under the message's request id: this send's lines (and a fallback it queues) carry it.
    with request_id_scope(claimed.request_id):
        state = await _deliver_claimed(
            engine, sync_engine, sender, claimed, settings, hours, gate, probing=probing, now=now
        )
        log.info(
            "message %s via %s, attempt %d: %s",
            claimed.message.id,
            sender.channel.value,
            claimed.attempts,
            state.value,
            extra={
                "message_id": claimed.message.id,
                "channel": sender.channel.value,
                "attempt": claimed.attempts,
                "state": state.value,
                "request_id": current_request_id(),
            },
        )
    return state


async def _deliver_claimed(
    engine: AsyncEngine,
    sync_engine: Engine,
    sender: Sender,
    claimed: Claimed,
    settings: NotifySettings,
    hours: DeliveryHours,
    gate: asyncio.Semaphore,
    *,
    probing: bool,
    now: datetime,
) -> MessageState:
    async with gate:
        error: DeliveryFailed | None = None
        accepted = SentRecorder(sync_engine, claimed, now)
        try:
            await sender.send(claimed.message, accepted)
        except DeliveryFailed as exc:
            error = exc
        except Exception as exc:  # a sender bug must not lose the message: retry it later
            log.exception("sending message %s failed unexpectedly", claimed.message.id)
            error = DeliveryFailed(f"unexpected error: {exc!r}")
        if error is None or accepted.done:
            await accepted.ensure()
            state = MessageState.sent
            error = None
        else:
            state = await record_failure(engine, claimed, error, settings, hours, now)
    if error is not None and error.channel_down:
        await mark_down(engine, sender.channel, error, settings, probing=probing, now=now)
    elif probing:
        await mark_up(engine, sender.channel)
    return state


async def deliver_due(
    engine: AsyncEngine,
    sync_engine: Engine,
    channels: Channels,
    settings: NotifySettings,
    hours: DeliveryHours,
    *,
    now: datetime,
) -> DeliveryRound:
    """One round over every configured channel; callable directly (tests, a CLI) or by the
    background worker. ``sync_engine`` (the same database) records sent messages from a
    worker thread, right after the far end took them."""
    result = DeliveryRound()
    gate = asyncio.Semaphore(_PARALLEL_SENDS)
    for channel, sender in channels.senders.items():
        async with session_scope(engine) as session:
            batch = await claim(session, channel, settings, hours, now)
        if not batch.messages:
            continue
        states = await asyncio.gather(
            *(
                _deliver_one(
                    engine,
                    sync_engine,
                    sender,
                    c,
                    settings,
                    hours,
                    gate,
                    probing=batch.probing,
                    now=now,
                )
                for c in batch.messages
            )
        )
        n = len(batch.messages)
        round_ = DeliveryRound(claimed=n, by_channel={channel.value: n})
        for state in states:
            if state is MessageState.sent:
                round_.sent += 1
            elif state is MessageState.dead:
                round_.dead += 1
            elif state is MessageState.queued:
                round_.held += 1
            else:
                round_.failed += 1
        result.add(round_)
    return result


class DeliveryWorker:
    """Runs :func:`deliver_due` in the background until stopped (a
    :class:`shared.periodic.Periodic`): a busy round is followed at once by the next, an idle
    one by a pause of ``worker_poll_seconds``; a failed round (the database may be down) is
    logged and tried again after a backoff of at most a minute."""

    def __init__(
        self,
        engine: AsyncEngine,
        sync_engine: Engine,
        channels: Channels,
        settings: NotifySettings,
        hours: DeliveryHours,
        clock: Clock,
    ) -> None:
        self._engine = engine
        self._sync_engine = sync_engine
        self._clock = clock
        self._channels = channels
        self._settings = settings
        self._hours = hours
        poll = settings.worker_poll_seconds
        self._job = Periodic(
            "notify-delivery-worker",
            self._round,
            interval=poll,
            retry_cap=max(poll, _RETRY_CAP_SECONDS),
        )

    @property
    def running(self) -> bool:
        return self._job.running

    def use_hours(self, hours: DeliveryHours) -> None:
        """Deliver by new delivery hours from the next round on (a calendar year was loaded)."""
        self._hours = hours

    def start(self) -> None:
        self._job.start()

    def wake(self) -> None:
        """Start the next round now (e.g. after a request queued urgent messages)."""
        self._job.wake()

    async def stop(self, grace_seconds: float = 30.0) -> None:
        """Finish the round under way (so outcomes are recorded), then stop."""
        await self._job.stop(grace_seconds)

    async def _round(self) -> float | None:
        done = await deliver_due(
            self._engine,
            self._sync_engine,
            self._channels,
            self._settings,
            self._hours,
            now=self._clock.now(),
        )
        return 0 if done.claimed > 0 else None
