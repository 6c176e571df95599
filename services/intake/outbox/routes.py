"""The outbox for administrators: what waits for notify, and delivering now (事件投递)."""

from __future__ import annotations

from fastapi import APIRouter, Request

from services.intake.deps import Config, CurrentAdmin
from services.intake.outbox import service
from services.intake.outbox.models import DeliveryRun, OutboxPage, OutboxState
from shared.app import Client, Session
from shared.clock import Now
from shared.pagination import Paging

router = APIRouter(tags=["outbox"])


@router.get("/outbox", summary="Events for notify and their delivery (事件发件箱)")
async def list_outbox(
    _admin: CurrentAdmin,
    session: Session,
    paging: Paging,
    state: OutboxState | None = None,
) -> OutboxPage:
    return await service.list_outbox(session, state, paging)


@router.post("/outbox/deliver", summary="Deliver pending events now (立即投递)")
async def deliver(
    _admin: CurrentAdmin, client: Client, config: Config, now: Now, request: Request
) -> DeliveryRun:
    return await service.deliver_pending(request.app.state.engine, client, config, now=now)
