"""Notify's API: the message queue and the reminder runs."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Query, Request

from services.notify.messages.models import MessageState
from services.notify.messages.service import MessagePage, list_messages
from services.notify.reminders.service import ReminderRun, queue_ledger_reminders
from shared.app import Client, Session
from shared.auth import CurrentPrincipal, Principal, Role
from shared.errors import Forbidden
from shared.timeutil import beijing_today

router = APIRouter(tags=["notify"])


def _require_admin_or_service(principal: Principal) -> None:
    if not principal.is_service and principal.role is not Role.admin:
        raise Forbidden(
            "this action is for administrators or Huodian services", code="admin_required"
        )


@router.post(
    "/reminders/ledger-deadlines/run",
    summary="Queue today's ledger deadline reminders (生成任务到期提醒)",
)
async def run_ledger_reminders(
    principal: CurrentPrincipal,
    session: Session,
    client: Client,
    request: Request,
    as_of: date | None = None,
    days_before: Annotated[int, Query(ge=0, le=60)] = 7,
) -> ReminderRun:
    _require_admin_or_service(principal)
    return await queue_ledger_reminders(
        session,
        client,
        request.app.state.calendar,
        today=as_of or beijing_today(),
        days_before=days_before,
    )


@router.get("/messages", summary="Queued and sent messages (消息记录)")
async def messages(
    principal: CurrentPrincipal,
    session: Session,
    state: MessageState | None = None,
    kind: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> MessagePage:
    _require_admin_or_service(principal)
    return await list_messages(session, state=state, kind=kind, limit=limit, offset=offset)
