"""External-line works over HTTP: clerks record them, staff read them and the overdue pushes,
the approval service posts its results through the portal (signed, idempotent)."""

from __future__ import annotations

from fastapi import APIRouter, status
from fastapi.responses import JSONResponse

from services.intake.deps import Calendar, CurrentClerk, CurrentStaff, Keys
from services.intake.external_lines import service
from services.intake.external_lines.models import (
    ApprovalResultIn,
    ApprovalState,
    ExternalLineIn,
    ExternalLinePage,
    ExternalLinePublic,
    PushIn,
)
from services.intake.external_lines.service import ExternalLineFilter
from services.intake.portal.auth import ApprovalsCaller
from services.intake.portal.idempotency import IdempotencyKey, run_once
from services.intake.rules.external_lines import PushState
from shared.app import Session
from shared.calendar import beijing_date
from shared.clock import Now
from shared.errors import Problem
from shared.pagination import Paging

router = APIRouter(tags=["external lines"])
portal_router = APIRouter(tags=["portal"])


@router.put(
    "/applications/{number}/external-line",
    summary="Record the external-line works and decide their approval (外线工程审批方式)",
)
async def record(
    number: str, body: ExternalLineIn, clerk: CurrentClerk, session: Session, now: Now
) -> ExternalLinePublic:
    return await service.record_works(
        session, number, body, actor=clerk, now=now, today=beijing_date(now)
    )


@router.get("/applications/{number}/external-line", summary="The works and their approval")
async def read(number: str, staff: CurrentStaff, session: Session, now: Now) -> ExternalLinePublic:
    return await service.read_works(session, number, staff, beijing_date(now))


@router.post(
    "/applications/{number}/external-line/completion",
    summary="The works are complete (外线工程竣工): the 3-month push duty starts",
)
async def complete(
    number: str, clerk: CurrentClerk, session: Session, calendar: Calendar, now: Now
) -> ExternalLinePublic:
    return await service.complete_works(session, number, actor=clerk, now=now, calendar=calendar)


@router.post(
    "/applications/{number}/external-line/push",
    summary="The construction information was pushed (施工信息已推送审批部门)",
)
async def push(
    number: str, body: PushIn, clerk: CurrentClerk, session: Session, now: Now
) -> ExternalLinePublic:
    return await service.record_push(session, number, body, actor=clerk, now=now)


@router.get(
    "/external-lines",
    summary="External-line works; push_state=overdue lists the overdue pushes (逾期未推送)",
)
async def list_works(
    staff: CurrentStaff,
    session: Session,
    now: Now,
    paging: Paging,
    unit: str | None = None,
    approval_state: ApprovalState | None = None,
    push_state: PushState | None = None,
) -> ExternalLinePage:
    flt = ExternalLineFilter(unit=unit, approval_state=approval_state, push_state=push_state)
    return await service.list_works(session, staff, flt, beijing_date(now), paging)


@portal_router.post(
    "/portal/approvals",
    summary="Post an external-line approval result (审批结果反馈)",
    response_model=ExternalLinePublic,
    responses={
        401: {"model": Problem, "description": "Signature refused (验签失败)"},
        403: {"model": Problem, "description": "The key lacks the approvals scope"},
    },
)
async def post_approval(
    body: ApprovalResultIn,
    caller: ApprovalsCaller,
    key: IdempotencyKey,
    session: Session,
    keys: Keys,
    now: Now,
) -> JSONResponse:
    async def effect() -> tuple[int, ExternalLinePublic]:
        works = await service.post_approval(session, body, caller=caller, now=now)
        return status.HTTP_200_OK, works

    return await run_once(session, caller, key, effect, now=now, keyring=keys)
