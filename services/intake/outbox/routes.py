"""The outbox for administrators: what waits for notify, and delivering now (事件投递)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request

from services.intake.deps import Config, CurrentAdmin
from services.intake.outbox import service
from services.intake.outbox.models import DeliveryRun, OutboxPage, OutboxState
from shared.app import Client, Session
from shared.clock import Now
from shared.validation import Offset

router = APIRouter(tags=["outbox"])


@router.get("/outbox", summary="Events for notify and their delivery (事件发件箱)")
async def list_outbox(
    _admin: CurrentAdmin,
    session: Session,
    state: OutboxState | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Offset = 0,
) -> OutboxPage:
    return await service.list_outbox(session, state, limit=limit, offset=offset)


@router.post("/outbox/deliver", summary="Deliver pending events now (立即投递)")
async def deliver(
    _admin: CurrentAdmin, client: Client, config: Config, now: Now, request: Request
) -> DeliveryRun:
    return await service.deliver_pending(request.app.state.engine, client, config, now=now)
