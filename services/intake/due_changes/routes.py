"""Moved deadlines over HTTP (时限变更记录): staff who may read the application."""

from __future__ import annotations

from fastapi import APIRouter

from services.intake.deps import CurrentStaff
from services.intake.due_changes import service
from services.intake.due_changes.models import DueChangePublic
from shared.app import Session

router = APIRouter(tags=["applications"])


@router.get(
    "/applications/{number}/due-changes",
    summary="Deadlines moved by calendar changes, old → new (节假日调整引起的时限变更)",
)
async def due_changes(number: str, staff: CurrentStaff, session: Session) -> list[DueChangePublic]:
    return await service.list_changes(session, number, staff)
