"""Status callbacks (状态回调) to the portal an application came from.

Every status change of a portal application — a stage completed, the clock paused or resumed,
the application closed or connected, its deadline moved by a calendar change — is written, in
the transaction of the change, as a :class:`WebhookDelivery` keyed by the stage-log sequence
number. :func:`deliver_pending` posts them to the portal's webhook URL, signed with the
portal's secret (:func:`services.intake.rules.signing.webhook_headers`), retried with
exponential backoff, and **in order per application**: an event is not sent while an earlier
one of the same application is undelivered; other applications go on meanwhile. Each event
carries a unique ``id`` so the portal can recognise a redelivery. A portal without a webhook
URL has its events skipped.
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import exists, func
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.orm import aliased
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.intake.applications.models import (
    PAUSE_REASON_LABELS,
    Application,
    ApplicationEvent,
    ApplicationStatus,
    EventKind,
    PauseReason,
)
from services.intake.policies.models import STAGE_LABELS
from services.intake.portal.models import (
    DeliveryState,
    PortalClient,
    WebhookDelivery,
    WebhookDeliveryPage,
    WebhookDeliveryPublic,
    WebhookRun,
)
from services.intake.portal.service import portal_secret
from services.intake.rules.signing import webhook_headers
from services.intake.settings import IntakeSettings
from shared.backoff import backoff as shared_backoff
from shared.compact_json import compact_json_bytes
from shared.db import session_scope
from shared.errors import NotFound
from shared.keyring import Keyring
from shared.outbound import UrlNotAllowed

log = logging.getLogger("huodian.intake.webhooks")

STATUS_CHANGES = frozenset(
    {
        EventKind.stage_completed,
        EventKind.paused,
        EventKind.resumed,
        EventKind.closed,
        EventKind.due_changed,  # a calendar change moved the deadline (节假日调整)
    }
)
EVENT_HEADER = "X-Huodian-Event"
DELIVERY_HEADER = "X-Huodian-Delivery"


def _event_type(application: Application, event: ApplicationEvent) -> str:
    if (
        event.kind is EventKind.stage_completed
        and application.status is ApplicationStatus.connected
    ):
        return "application.connected"
    return f"application.{event.kind.value}"


def _details(event: ApplicationEvent) -> dict[str, Any]:
    payload = event.payload
    if event.kind is EventKind.stage_completed:
        return {k: payload.get(k) for k in ("next_stage", "grid_days", "within_limit")}
    if event.kind is EventKind.paused:
        reason = PauseReason(payload["reason"])
        return {"pause_reason": reason.value, "pause_reason_label": PAUSE_REASON_LABELS[reason]}
    if event.kind is EventKind.due_changed:
        return {
            "previous_due_date": payload.get("from"),
            "due_date": payload.get("to"),
            "provisional": payload.get("provisional"),
            "calendar_year": payload.get("calendar_year"),
            "calendar_source": payload.get("calendar_source"),
            "cleared": payload.get("cleared"),
        }
    return {"paused_days": payload.get("paused_days")}


def queue_status_callback(
    session: AsyncSession, application: Application, event: ApplicationEvent
) -> None:
    """Queue the callback of a stage-log event if it changes the status of a portal's
    application (called by :func:`services.intake.applications.log.append_event`)."""
    if application.portal_client is None or event.kind not in STATUS_CHANGES:
        return
    event_id = uuid.uuid4()
    event_type = _event_type(application, event)
    current = application.current_stage
    body = {
        "id": str(event_id),
        "type": event_type,
        "occurred_at": event.occurred_at.isoformat(),
        "application_number": application.number,
        "seq": event.seq,
        "status": application.status.value,
        "stage": event.stage.value if event.stage else None,
        "stage_label": STAGE_LABELS[event.stage] if event.stage else None,
        "current_stage": current.value if current else None,
        "current_stage_label": STAGE_LABELS[current] if current else None,
        "due_date": application.due_date.isoformat() if application.due_date else None,
        "due_provisional": application.due_provisional,
        "reason": event.reason,
        "details": _details(event),
    }
    session.add(
        WebhookDelivery(
            event_id=event_id,
            key_id=application.portal_client,
            application_id=event.application_id,
            application_number=application.number,
            seq=event.seq,
            type=event_type,
            body=body,
            state=DeliveryState.pending,
            next_attempt_at=event.occurred_at,
            created_at=event.occurred_at,
        )
    )


def backoff(attempts: int, settings: IntakeSettings) -> timedelta:
    """Wait before attempt ``attempts + 1``: base × 2^(attempts − 1), capped."""
    return shared_backoff(
        attempts, settings.webhook_retry_base_seconds, settings.webhook_retry_max_seconds
    )


def encode(body: dict[str, Any]) -> bytes:
    return compact_json_bytes(body)


async def _post(
    http: httpx.AsyncClient, client: PortalClient, secret: str, row: WebhookDelivery, now: datetime
) -> str | None:
    """Send one callback; None if the portal took it, else why not."""
    assert client.webhook_url is not None
    content = encode(row.body)
    headers = {
        "Content-Type": "application/json; charset=utf-8",
        EVENT_HEADER: row.type,
        DELIVERY_HEADER: str(row.event_id),
        **webhook_headers(secret, content, int(now.timestamp()), key_id=client.key_id),
    }
    try:
        response = await http.post(client.webhook_url, content=content, headers=headers)
    except UrlNotAllowed as exc:
        return f"not sent: {exc.detail}"[:500]
    except httpx.HTTPError as exc:
        return f"the webhook could not be reached: {exc!r}"[:500]
    row.last_status = response.status_code
    if response.is_success:
        return None
    # Not the answer's body: the admin reading this must not learn what the URL serves.
    return f"the webhook answered HTTP {response.status_code}"


async def deliver_one(
    engine: AsyncEngine,
    http: httpx.AsyncClient,
    settings: IntakeSettings,
    now: datetime,
    keyring: Keyring,
) -> DeliveryState | None:
    """Send the oldest due callback whose predecessors are done, in its own transaction.

    Returns the delivery's state afterwards (pending means it failed and waits for a retry),
    or None if nothing is due.
    """
    earlier = aliased(WebhookDelivery)
    blocked = exists().where(
        col(earlier.application_id) == col(WebhookDelivery.application_id),
        col(earlier.seq) < col(WebhookDelivery.seq),
        col(earlier.state) == DeliveryState.pending.value,
    )
    async with session_scope(engine) as session:
        row = (
            await session.exec(
                select(WebhookDelivery)
                .where(
                    col(WebhookDelivery.state) == DeliveryState.pending.value,
                    col(WebhookDelivery.next_attempt_at) <= now,
                    ~blocked,
                )
                .order_by(col(WebhookDelivery.next_attempt_at), col(WebhookDelivery.id))
                .limit(1)
                .with_for_update(skip_locked=True)
            )
        ).first()
        if row is None:
            return None
        client = (
            await session.exec(select(PortalClient).where(col(PortalClient.key_id) == row.key_id))
        ).first()
        if client is None or not client.is_active or client.webhook_url is None:
            row.state = DeliveryState.skipped
            row.last_error = "the portal has no webhook URL (or its key is inactive)"
            return row.state
        row.attempts += 1
        error = await _post(http, client, portal_secret(keyring, client), row, now)
        if error is None:
            row.state, row.delivered_at, row.last_error = DeliveryState.delivered, now, None
        else:
            row.last_error = error
            row.next_attempt_at = now + backoff(row.attempts, settings)
            log.warning(
                "callback %s of %s to %s failed, attempt %d: %s",
                row.type,
                row.application_number,
                row.key_id,
                row.attempts,
                error[:200],
            )
        return row.state


async def deliver_pending(
    engine: AsyncEngine,
    http: httpx.AsyncClient,
    settings: IntakeSettings,
    *,
    now: datetime,
    keyring: Keyring,
) -> WebhookRun:
    """Send every due callback (up to a batch), each in its own transaction."""
    run = WebhookRun()
    for _ in range(settings.webhook_batch):
        state = await deliver_one(engine, http, settings, now, keyring)
        if state is None:
            break
        if state is DeliveryState.delivered:
            run.delivered += 1
        elif state is DeliveryState.skipped:
            run.skipped += 1
        else:
            run.failed += 1
    return run


async def list_deliveries(
    session: AsyncSession,
    key_id: str,
    *,
    state: DeliveryState | None,
    application_number: str | None,
    limit: int,
    offset: int,
) -> WebhookDeliveryPage:
    """A portal's callbacks, newest first (回调投递记录)."""
    if (
        await session.exec(select(PortalClient.id).where(col(PortalClient.key_id) == key_id))
    ).first() is None:
        raise NotFound(f"there is no portal key {key_id}", code="portal_client_not_found")
    query = select(WebhookDelivery).where(col(WebhookDelivery.key_id) == key_id)
    if state is not None:
        query = query.where(col(WebhookDelivery.state) == state.value)
    if application_number is not None:
        query = query.where(col(WebhookDelivery.application_number) == application_number)
    total = (await session.exec(select(func.count()).select_from(query.subquery()))).one()
    rows = (
        await session.exec(
            query.order_by(col(WebhookDelivery.id).desc()).limit(limit).offset(offset)
        )
    ).all()
    return WebhookDeliveryPage(
        total=total,
        limit=limit,
        offset=offset,
        deliveries=[WebhookDeliveryPublic.model_validate(r, from_attributes=True) for r in rows],
    )
