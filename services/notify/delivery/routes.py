"""Fallback channels over HTTP (备用渠道设置): read by operators, set by administrators."""

from __future__ import annotations

from fastapi import APIRouter

from services.notify.delivery import fallbacks
from services.notify.delivery.fallbacks import FallbackPublic, FallbackSet
from services.notify.deps import CurrentAdmin, CurrentOperator
from shared.app import Session
from shared.clock import Now

router = APIRouter(tags=["delivery"])


@router.get("/delivery/fallbacks", summary="Fallback channels per message type (备用渠道)")
async def list_fallbacks(_operator: CurrentOperator, session: Session) -> list[FallbackPublic]:
    return await fallbacks.list_fallbacks(session)


@router.put(
    "/delivery/fallbacks/{kind}",
    summary="Set a message type's fallback channels (设置备用渠道)",
)
async def set_fallbacks(
    admin: CurrentAdmin, session: Session, now: Now, kind: str, body: FallbackSet
) -> FallbackPublic:
    return await fallbacks.set_fallbacks(session, kind, body, by=admin.subject, now=now)
