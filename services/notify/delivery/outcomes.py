"""Recording what a send did (投递结果): each outcome committed in its own transaction at once.

**Each message's outcome is committed in its own transaction the moment the far end has taken
it**, only if the lease is still the worker's own: the sender calls ``accepted`` then (for email
right after the server's 250 to DATA, before QUIT, on a database connection checked out before
the send). What remains is the window of that one UPDATE and COMMIT: a worker killed inside it
sends the message again after the lease runs out, with the same Message-ID / idempotency key, so
the duplicate is recognisable (``docs/reliability.md`` measures it). A failure is retried after
a backoff, given back when the channel is down, or made a dead letter, which leads to its type's
fallback channel (``fallbacks.py``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, insert, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import col

from services.notify.delivery.channels import DeliveryFailed, Receipt
from services.notify.delivery.claims import Claimed
from services.notify.delivery.fallbacks import queue_fallback
from services.notify.delivery.models import AttemptOutcome, DeliveryAttempt
from services.notify.delivery.windows import DeliveryHours
from services.notify.messages.models import Message, MessageState
from services.notify.settings import NotifySettings
from shared.backoff import backoff as shared_backoff
from shared.db import session_scope

log = logging.getLogger("huodian.notify.delivery")

_SQLITE_WRITES = threading.Lock()


def backoff(settings: NotifySettings, attempts: int) -> timedelta:
    """Wait before the next try after ``attempts`` failed ones: base × 2^(attempts−1), capped."""
    return shared_backoff(attempts, settings.backoff_base_seconds, settings.backoff_max_seconds)


def _attempt(
    claimed: Claimed,
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


class SentRecorder:
    """Commits ``sent`` for one claimed message, synchronously, from whichever thread the
    sender calls it in: the shortest path from "the far end took it" to "it is recorded".
    The attempt and its receipt are recorded in the same transaction."""

    def __init__(self, engine: Engine, claimed: Claimed, now: datetime) -> None:
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


async def record_failure(
    engine: AsyncEngine,
    claimed: Claimed,
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
