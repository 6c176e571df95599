"""Stale-update escalation (更新超期督办): a ledger's rule, and the feed notify sends from."""

from __future__ import annotations

from fastapi import APIRouter, Request

from services.ledger.deps import AsOf, CurrentAdmin, CurrentReader
from services.ledger.escalations import service
from services.ledger.escalations.models import (
    EscalationAck,
    EscalationAckResult,
    EscalationFeed,
    StalePolicy,
)
from services.ledger.ledgers.models import LedgerPublic
from shared.app import Session
from shared.auth import require_service
from shared.clock import Now

router = APIRouter(tags=["escalations"])


@router.put(
    "/ledgers/{code}/stale-policy",
    summary="Set after how many working days a silent item escalates (更新超期规则)",
)
async def set_stale_policy(
    code: str, body: StalePolicy, _admin: CurrentAdmin, session: Session
) -> LedgerPublic:
    return await service.set_stale_policy(session, code, body)


@router.post(
    "/feed/stale-escalations",
    summary="Record today's stale-item escalations and list those not yet sent, for notify "
    "(更新超期督办源)",
)
async def stale_escalation_feed(
    reader: CurrentReader, session: Session, request: Request, as_of: AsOf, now: Now
) -> EscalationFeed:
    require_service(reader, "notify")
    return await service.pending_feed(session, request.app.state.calendar, as_of=as_of, now=now)


@router.post(
    "/feed/stale-escalations/ack",
    summary="Mark escalation steps as queued by notify (督办已发送)",
)
async def acknowledge_stale_escalations(
    body: EscalationAck, reader: CurrentReader, session: Session, now: Now
) -> EscalationAckResult:
    require_service(reader, "notify")
    return EscalationAckResult(
        acknowledged=await service.acknowledge(session, body.step_ids, now=now)
    )
