"""``POST /events``: where other Huodian services deliver their events (事件接收)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from services.notify.deps import Hours
from services.notify.events.models import RecordedEvent
from services.notify.events.service import latest_recorded, receive
from shared.app import Client, Keys, Session
from shared.auth import CurrentPrincipal, require_service
from shared.clock import Now
from shared.errors import Problem
from shared.events import Event, EventReceipt

router = APIRouter(tags=["events"])


@router.post(
    "/events",
    summary="Receive an event from another service, exactly once (接收事件)",
    responses={
        502: {
            "model": Problem,
            "description": "ledger's directory unreachable: deliver again later",
        }
    },
)
async def post_event(
    event: Event,
    principal: CurrentPrincipal,
    session: Session,
    client: Client,
    hours: Hours,
    keys: Keys,
    now: Now,
) -> EventReceipt:
    require_service(principal, "intake")
    return await receive(session, client, event, hours=hours, keyring=keys, now=now)


@router.get(
    "/events/latest",
    summary="The last kept event of a type, e.g. intake's checkpoint copy (记录锚定副本)",
)
async def latest_event(
    event_type: Annotated[str, Query(alias="type", max_length=100)],
    principal: CurrentPrincipal,
    session: Session,
    source: Annotated[str, Query(max_length=32)] = "intake",
) -> RecordedEvent:
    require_service(principal, "intake")
    return await latest_recorded(session, event_type, source)
