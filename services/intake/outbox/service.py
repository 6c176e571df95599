"""Writing events to the outbox and delivering them to notify (``POST /events``).

:func:`enqueue` only adds a row to the caller's transaction. :func:`deliver_pending` owns its
units of work: one short transaction per event, the row locked (``FOR UPDATE SKIP LOCKED`` on
PostgreSQL) while it is posted, so two deliverers never post the same event at once. A refusal
or an unreachable notify leaves the event pending with the error and an exponential backoff.
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime, timedelta
from typing import Any

from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.intake.outbox.models import (
    DeliveryRun,
    EventType,
    OutboxEvent,
    OutboxEventPublic,
    OutboxPage,
    OutboxState,
)
from services.intake.settings import IntakeSettings
from shared.backoff import backoff as shared_backoff
from shared.db import session_scope
from shared.errors import UpstreamUnavailable
from shared.events import Event, EventReceipt
from shared.http import ServiceClient
from shared.logs import request_id_scope
from shared.pagination import FIRST_PAGE, PageParams, fetch_page

log = logging.getLogger("huodian.intake.outbox")


def enqueue(
    session: AsyncSession,
    event_type: EventType,
    *,
    subject: str,
    data: dict[str, Any],
    now: datetime,
) -> OutboxEvent:
    """Add an event to the outbox in the caller's transaction."""
    row = OutboxEvent(
        event_id=uuid.uuid4(),
        type=event_type,
        subject=subject,
        occurred_at=now,
        data=data,
        state=OutboxState.pending,
        next_attempt_at=now,
    )
    session.add(row)
    return row


def as_event(row: OutboxEvent) -> Event:
    return Event(
        id=row.event_id,
        type=row.type.value,
        source="intake",
        occurred_at=row.occurred_at,
        subject=row.subject,
        data=row.data,
    )


def backoff(attempts: int, settings: IntakeSettings) -> timedelta:
    """Wait before attempt ``attempts + 1``: base × 2^(attempts − 1), capped."""
    return shared_backoff(
        attempts, settings.outbox_retry_base_seconds, settings.outbox_retry_max_seconds
    )


async def _post(client: ServiceClient, row: OutboxEvent) -> EventReceipt:
    response = await client.request(
        "notify", "POST", "/events", json=as_event(row).model_dump(mode="json")
    )
    if response.is_error:
        detail = response.text[:500]
        raise UpstreamUnavailable(f"notify refused the event: {response.status_code} {detail}")
    try:
        return EventReceipt.model_validate_json(response.content)
    except ValidationError as exc:
        raise UpstreamUnavailable(f"notify's answer is not a receipt: {exc!r}"[:500]) from exc


async def deliver_one(
    engine: AsyncEngine,
    client: ServiceClient,
    settings: IntakeSettings,
    now: datetime,
) -> bool | None:
    """Post the oldest due pending event. True if delivered, False if it failed, None if none."""
    async with session_scope(engine) as session:
        row = (
            await session.exec(
                select(OutboxEvent)
                .where(
                    col(OutboxEvent.state) == OutboxState.pending.value,
                    col(OutboxEvent.next_attempt_at) <= now,
                )
                .order_by(col(OutboxEvent.next_attempt_at), col(OutboxEvent.id))
                .limit(1)
                .with_for_update(skip_locked=True)
            )
        ).first()
        if row is None:
            return None
        row.attempts += 1
        try:
            # Under the id of the request that queued it: ServiceClient sends it to notify, and
            # this delivery's log lines carry it.
            with request_id_scope(row.request_id):
                receipt = await _post(client, row)
        except UpstreamUnavailable as exc:
            row.last_error = exc.detail
            row.next_attempt_at = now + backoff(row.attempts, settings)
            log.warning(
                "event %s (%s) not delivered, attempt %d: %s",
                row.event_id,
                row.type.value,
                row.attempts,
                exc.detail[:200],
                extra={"request_id": row.request_id},
            )
            return False
        row.state = OutboxState.delivered
        row.delivered_at = now
        row.duplicate = receipt.duplicate
        row.last_error = None
        return True


async def deliver_pending(
    engine: AsyncEngine,
    client: ServiceClient,
    settings: IntakeSettings,
    *,
    now: datetime,
) -> DeliveryRun:
    """Deliver every due pending event (up to a batch), each in its own transaction."""
    moment = now
    run = DeliveryRun()
    for _ in range(settings.outbox_batch):
        outcome = await deliver_one(engine, client, settings, moment)
        if outcome is None:
            break
        if outcome:
            run.delivered += 1
        else:
            run.failed += 1
    return run


async def list_outbox(
    session: AsyncSession, state: OutboxState | None, paging: PageParams = FIRST_PAGE
) -> OutboxPage:
    query = select(OutboxEvent)
    if state is not None:
        query = query.where(col(OutboxEvent.state) == state.value)
    total, rows = await fetch_page(session, query, paging, col(OutboxEvent.id).desc())
    return OutboxPage(
        total=total,
        limit=paging.limit,
        offset=paging.offset,
        items=[OutboxEventPublic.model_validate(r, from_attributes=True) for r in rows],
    )
