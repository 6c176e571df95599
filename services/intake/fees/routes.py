"""Fee items over HTTP: clerks add and void them, supervisors decide held ones, staff read them."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query, status
from sqlmodel.ext.asyncio.session import AsyncSession

from services.intake.access import OperatedApplication, check_operator, check_reader
from services.intake.applications.loading import get_application
from services.intake.deps import CurrentClerk, CurrentStaff, CurrentSupervisor
from services.intake.fees import approval, service
from services.intake.fees.models import FeeDecisionIn, FeeItemsIn, FeeSheet, FeeVoid, PendingFees
from services.intake.fees.sheet import fee_sheet
from shared.app import Session
from shared.auth import Principal
from shared.clock import Now
from shared.validation import Id

router = APIRouter(tags=["fees"])


@router.get("/applications/{number}/fees", summary="Fee items and totals (收费清单)")
async def read_fees(number: str, staff: CurrentStaff, session: Session) -> FeeSheet:
    application = await get_application(session, number)
    unmasked = check_reader(application, staff)
    return await fee_sheet(session, application.id, unmasked=unmasked)


@router.post(
    "/applications/{number}/fees",
    status_code=status.HTTP_201_CREATED,
    summary="Add fee items (登记收费项目)",
)
async def add_fees(body: FeeItemsIn, at: OperatedApplication) -> FeeSheet:
    return await service.add_fees(
        at.session, at.application, body, actor=at.clerk.subject, now=at.now
    )


@router.post("/applications/{number}/fees/{fee_id}/void", summary="Void a fee item (作废收费项目)")
async def void_fee(
    number: str, fee_id: Id, body: FeeVoid, clerk: CurrentClerk, session: Session, now: Now
) -> FeeSheet:
    # Not OperatedApplication: that would look the application up before fee_id is validated.
    application = await get_application(session, number, for_update=True)
    check_operator(application, clerk)
    return await service.void_fee(session, application, fee_id, body, actor=clerk.subject, now=now)


@router.get("/fees/pending", summary="Held fee items waiting for a decision (待审核收费项目)")
async def pending_fees(
    supervisor: CurrentSupervisor,
    session: Session,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> PendingFees:
    return await approval.pending_fees(session, supervisor, limit=limit)


async def _decide(
    number: str,
    fee_id: int,
    body: FeeDecisionIn,
    supervisor: Principal,
    session: AsyncSession,
    now: datetime,
    *,
    approve: bool,
) -> FeeSheet:
    # A supervisor of the application's supervising unit decides (check_reader: 403 otherwise).
    application = await get_application(session, number, for_update=True)
    check_reader(application, supervisor)
    return await approval.decide(
        session, application, fee_id, body, approve=approve, actor=supervisor.subject, now=now
    )


@router.post(
    "/applications/{number}/fees/{fee_id}/approve",
    summary="Approve a held fee item (审核同意待审核收费项目)",
)
async def approve_fee(
    number: str,
    fee_id: Id,
    body: FeeDecisionIn,
    supervisor: CurrentSupervisor,
    session: Session,
    now: Now,
) -> FeeSheet:
    return await _decide(number, fee_id, body, supervisor, session, now, approve=True)


@router.post(
    "/applications/{number}/fees/{fee_id}/reject",
    summary="Reject a held fee item (审核不同意待审核收费项目)",
)
async def reject_fee(
    number: str,
    fee_id: Id,
    body: FeeDecisionIn,
    supervisor: CurrentSupervisor,
    session: Session,
    now: Now,
) -> FeeSheet:
    return await _decide(number, fee_id, body, supervisor, session, now, approve=False)
