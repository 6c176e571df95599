"""The whitelist (白名单), its report, and the grid capacity per area, for staff."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, status

from services.intake.access import OperatedApplication
from services.intake.deps import CurrentStaff
from services.intake.whitelist import service
from services.intake.whitelist.models import (
    GridAreaCreate,
    GridAreaPublic,
    GridAreaUpdate,
    WhitelistItem,
    WhitelistPage,
    WhitelistReport,
    WhitelistStatus,
    WhitelistTransition,
)
from services.intake.whitelist.service import WhitelistFilter
from shared.app import Session
from shared.clock import Now
from shared.pagination import Paging
from shared.validation import Id

router = APIRouter(tags=["whitelist"])


@router.get("/whitelist", summary="Applications waiting for a grid upgrade (白名单)")
async def list_whitelist(
    staff: CurrentStaff,
    session: Session,
    paging: Paging,
    unit: str | None = None,
    area: Annotated[str | None, Query(description="配电网区域名称")] = None,
    status_: Annotated[WhitelistStatus | None, Query(alias="status")] = None,
) -> WhitelistPage:
    flt = WhitelistFilter(unit=unit, area=area, status=status_)
    return await service.list_whitelist(session, staff, flt, paging)


@router.get(
    "/whitelist/report", summary="Whitelist records per jurisdiction, unit and status (白名单统计)"
)
async def whitelist_report(staff: CurrentStaff, session: Session) -> WhitelistReport:
    return await service.report(session, staff)


@router.post(
    "/applications/{number}/whitelist",
    summary="Move the whitelist record on: upgrade done, released (白名单状态)",
)
async def whitelist_transition(body: WhitelistTransition, at: OperatedApplication) -> WhitelistItem:
    return await service.transition(
        at.session, at.application, body, actor=at.clerk.subject, now=at.now
    )


@router.get("/grid-areas", summary="Grid capacity per area (配电网接入能力)")
async def list_grid_areas(
    _staff: CurrentStaff, session: Session, unit: str | None = None
) -> list[GridAreaPublic]:
    return [service.area_public(a) for a in await service.list_areas(session, unit)]


@router.post(
    "/grid-areas",
    status_code=status.HTTP_201_CREATED,
    summary="Add a grid area with its open capacity (新增配电网区域)",
)
async def create_grid_area(
    body: GridAreaCreate, staff: CurrentStaff, session: Session, now: Now
) -> GridAreaPublic:
    return await service.create_area(session, body, actor=staff, now=now)


@router.patch(
    "/grid-areas/{area_id}",
    summary="Update an area's open capacity or limits (更新接入能力)",
)
async def update_grid_area(
    area_id: Id, body: GridAreaUpdate, staff: CurrentStaff, session: Session, now: Now
) -> GridAreaPublic:
    return await service.update_area(session, area_id, body, actor=staff, now=now)
