"""The delivery worker (投递): claims due messages, sends them, records each outcome at once.

A round claims, per configured channel, a small batch (``worker_batch``, at most the channel's
remaining per-minute budget) of due messages whose delivery window is open, in one short
transaction: on PostgreSQL the rows are picked with ``FOR UPDATE SKIP LOCKED`` under a
per-channel advisory lock, so several workers share the queue and the rate limit holds across
them; SQLite has one writer at a time. Claiming marks a message ``sending``, bumps ``attempts``
and leases it (``next_attempt_at`` moves ``lease_seconds`` ahead), so a worker that dies mid-send
leaves it to be claimed again when the lease runs out, never lost. Such a re-claimed message
is flagged ``possible_duplicate`` (可能重复), with ``earlier_attempt_at`` the start of the attempt
that was cut off: the one case where the far end may have two copies is visible on the row.

Sends happen outside any transaction, and **each message's outcome is committed in its own
transaction the moment the far end has taken it**, only if the lease is still the worker's own:
the sender calls ``accepted`` then (for email right after the server's 250 to DATA, before
QUIT, on a database connection checked out before the send). What remains is the
window of that one UPDATE and COMMIT: a worker killed inside it sends the message again after the
lease runs out, with the same Message-ID / idempotency key, so the duplicate is recognisable
(``docs/reliability.md`` measures it).

**Circuit breaker (熔断), per channel.** A failure of the channel's server (the SMTP server, the
SMS gateway: see ``DeliveryFailed.channel_down``) gives the attempt back and marks the channel
down (``channel_health``). While it is down its messages wait, using no attempts; one message is
sent as a probe when ``next_probe_at`` comes (the retry backoff, capped at
``channel_probe_max_seconds``), and the first probe that succeeds marks the channel up and lets
the queue flow. Only a message's own failures (a refused address, a permanent 5xx, its own
passing failures beyond ``max_attempts``) make a dead letter.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, case, func, insert, text, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.notify.delivery.channels import (
    Channels,
    DeliveryFailed,
    Outgoing,
    Receipt,
    Sender,
)
from services.notify.delivery.fallbacks import queue_fallback
from services.notify.delivery.models import (
    AttemptOutcome,
    ChannelHealth,
    DeliveryAttempt,
)
from services.notify.delivery.windows import DeliveryHours
from services.notify.messages.models import Channel, DeliveryWindow, Message, MessageState
from services.notify.settings import NotifySettings
from shared.backoff import backoff as shared_backoff
from shared.clock import Clock
from shared.db import insert_ignore, session_scope
from shared.logs import current_request_id, request_id_scope
from shared.periodic import Periodic

log = logging.getLogger("huodian.notify.delivery")

# ``sending`` ones are claimable again once their lease has run out (their worker died).
_CLAIMABLE = (MessageState.queued, MessageState.failed, MessageState.sending)
_CHANNEL_LOCK_BASE = 72_031_000
_PARALLEL_SENDS = 8
_SQLITE_WRITES = threading.Lock()
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


@dataclass(frozen=True)
class _Claimed:
    message: Outgoing
    attempts: int
    window: DeliveryWindow
    request_id: str | None = None  # the message's, so that its send is logged with it


@dataclass(frozen=True)
class _Claim:
    messages: list[_Claimed]
    probing: bool  # the channel is down and this is its probe


def backoff(settings: NotifySettings, attempts: int) -> timedelta:
    """Wait before the next try after ``attempts`` failed ones: base × 2^(attempts−1), capped."""
    return shared_backoff(attempts, settings.backoff_base_seconds, settings.backoff_max_seconds)


def probe_wait(settings: NotifySettings, failures: int) -> timedelta:
    """Wait before probing a channel that is down after ``failures`` failed probes."""
    return min(backoff(settings, failures), timedelta(seconds=settings.channel_probe_max_seconds))


async def _claim(
    session: AsyncSession,
    channel: Channel,
    settings: NotifySettings,
    hours: DeliveryHours,
    now: datetime,
) -> _Claim:
    if session.get_bind().dialect.name == "postgresql":
        # Serialises claims of one channel (its rate budget, its probe) across the workers.
        connection = await session.connection()
        await connection.execute(
            text("SELECT pg_advisory_xact_lock(:key, hashtext(current_schema()))"),
            {"key": _CHANNEL_LOCK_BASE + list(Channel).index(channel)},
        )
    nothing = _Claim([], probing=False)
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
    return _Claim(
        [
            _Claimed(
                Outgoing(row[0], row[1], row[2], channel, row[3], row[4], row[5]),
                row[6],
                row[7],
                row[8],
            )
            for row in rows
        ],
        probing=probing,
    )


def _attempt(
    claimed: _Claimed,
    outcome: AttemptOutcome,
    receipt: Receipt | None,
    now: datetime,
    error: str | None = None,
) -> dict[str, object]:
    """The row of one attempt in ``delivery_attempts`` (投递尝试), with the provider's receipt."""
    return {
        "message_id": claimed.message.id,
        "attempt": claimed.attempts,
        "channel": claimed.message.channel,
        "attempted_at": now,
        "outcome": outcome,
        "receipt": receipt.id if receipt else None,
        "provider_code": receipt.code if receipt else None,
        "error": error,
    }


class _SentRecorder:
    """Commits ``sent`` for one claimed message, synchronously, from whichever thread the
    sender calls it in: the shortest path from "the far end took it" to "it is recorded".
    The attempt and its receipt are recorded in the same transaction."""

    def __init__(self, engine: Engine, claimed: _Claimed, now: datetime) -> None:
        self._engine = engine
        self._claimed = claimed
        self._now = now
        self._receipt: Receipt | None = None
        self.done = False

    def _statements(self) -> tuple[Any, Any]:
        claimed, receipt = self._claimed, self._receipt
        sent = (
            update(Message)
            .where(col(Message.id) == claimed.message.id, col(Message.attempts) == claimed.attempts)
            # Sent is the truth even if a later change superseded it meanwhile.
            .values(
                state=MessageState.sent,
                sent_at=self._now,
                last_error=None,
                receipt=receipt.id if receipt else None,
            )
        )
        attempt = insert(DeliveryAttempt).values(
            _attempt(claimed, AttemptOutcome.sent, receipt, self._now)
        )
        return sent, attempt

    def __call__(self, receipt: Receipt) -> None:
        if self.done:
            return
        self._receipt = receipt
        try:
            self._commit()
        except Exception:  # recorded again by the worker once the send returns
            log.exception("recording a sent message failed")
            return
        self.done = True

    def _commit(self) -> None:
        # SQLite has one writer: queued here, the sends that finish together commit one after
        # the other at once instead of sleeping in SQLite's busy handler (milliseconds each).
        serial = (
            _SQLITE_WRITES if self._engine.dialect.name == "sqlite" else contextlib.nullcontext()
        )
        for attempt in (1, 2):
            try:
                with serial, self._engine.begin() as connection:
                    for statement in self._statements():
                        connection.execute(statement)
                return
            except DBAPIError as exc:  # a pooled connection the database dropped: once more
                if attempt == 2 or not exc.connection_invalidated:
                    raise

    async def ensure(self) -> None:
        """Commit now if the sender did not call it (or its call failed)."""
        if not self.done:
            await asyncio.to_thread(self._commit)
            self.done = True


async def _record_failure(
    engine: AsyncEngine,
    claimed: _Claimed,
    error: DeliveryFailed,
    settings: NotifySettings,
    hours: DeliveryHours,
    now: datetime,
) -> MessageState:
    """Commit a failed send in its own short transaction, if the message is still ours.

    Returns the state recorded; ``queued`` means the channel was down and the attempt was
    given back. The attempt is recorded with its receipt; a dead letter leads to its type's
    fallback channel in the same transaction (``delivery/fallbacks.py``)."""
    mine = (col(Message.id) == claimed.message.id, col(Message.attempts) == claimed.attempts)
    attempts = claimed.attempts
    values: dict[str, object]
    outcome = {
        MessageState.queued: AttemptOutcome.held,
        MessageState.dead: AttemptOutcome.dead,
        MessageState.failed: AttemptOutcome.failed,
    }
    if error.channel_down:
        state = MessageState.queued
        values = {
            "state": MessageState.failed,
            "attempts": attempts - 1,
            "next_attempt_at": hours.earliest(claimed.window, now),
        }
    elif error.permanent or attempts >= settings.max_attempts:
        state = MessageState.dead
        values = {"state": state}
    else:
        state = MessageState.failed
        retry_at = now + backoff(settings, attempts)
        values = {"state": state, "next_attempt_at": hours.earliest(claimed.window, retry_at)}
    reason = error.reason[:2000]
    values["last_error"] = reason
    # A superseded message that failed stays superseded: it is never retried.
    statement = (
        update(Message).where(*mine, col(Message.state) == MessageState.sending).values(**values)
    )
    attempt = _attempt(claimed, outcome[state], error.receipt, now, reason)
    async with session_scope(engine) as session:
        recorded = await session.exec(statement.execution_options(preserve_rowcount=True))
        if state is MessageState.dead and recorded.rowcount == 1:
            dead = await session.get(Message, claimed.message.id)
            assert dead is not None
            attempt["fallback"], attempt["fallback_message_id"] = await queue_fallback(
                session, dead, hours, now=now
            )
        await session.exec(insert(DeliveryAttempt).values(attempt))
    return state


async def _mark_down(
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


async def _mark_up(engine: AsyncEngine, channel: Channel) -> None:
    async with session_scope(engine) as session:
        await session.exec(
            update(ChannelHealth)
            .where(col(ChannelHealth.channel) == channel.value)
            .values(down_since=None, failures=0, next_probe_at=None)
        )
    log.warning("channel %s is up again", channel.value)


async def _deliver_one(
    engine: AsyncEngine,
    sync_engine: Engine,
    sender: Sender,
    claimed: _Claimed,
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
    claimed: _Claimed,
    settings: NotifySettings,
    hours: DeliveryHours,
    gate: asyncio.Semaphore,
    *,
    probing: bool,
    now: datetime,
) -> MessageState:
    async with gate:
        error: DeliveryFailed | None = None
        accepted = _SentRecorder(sync_engine, claimed, now)
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
            state = await _record_failure(engine, claimed, error, settings, hours, now)
    if error is not None and error.channel_down:
        await _mark_down(engine, sender.channel, error, settings, probing=probing, now=now)
    elif probing:
        await _mark_up(engine, sender.channel)
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
            claim = await _claim(session, channel, settings, hours, now)
        if not claim.messages:
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
                    probing=claim.probing,
                    now=now,
                )
                for c in claim.messages
            )
        )
        n = len(claim.messages)
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
