"""Reliability statistics over HTTP, JSON or .xlsx (供电可靠性统计)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Response, status

from services.notify.deps import CurrentOperator
from services.notify.reliability import service
from services.notify.reliability.models import (
    OfficialCountIn,
    OfficialCountPublic,
    ReliabilityReport,
    Targets,
)
from services.notify.reliability.service import reliability, targets
from services.notify.reliability.xlsx import reliability_xlsx
from shared.app import Session
from shared.auth import CurrentPrincipal
from shared.clock import Now
from shared.downloads import XLSX_MEDIA_TYPE, attachment
from shared.validation import Year
from shared.vocab import AreaClass

router = APIRouter(tags=["reliability"])


@router.get("/reliability/targets", summary="Targets from the plans (可靠性目标)")
async def reliability_targets(_principal: CurrentPrincipal) -> Targets:
    return targets()


@router.get(
    "/reliability",
    summary="Outage hours and interruptions per customer by area class (户均停电时间)",
    response_model=ReliabilityReport,
    responses={200: {"content": {XLSX_MEDIA_TYPE: {}}}},
)
async def reliability_report(
    _principal: CurrentPrincipal,
    session: Session,
    year: Annotated[int, Query(ge=2000, le=2100)],
    plan: str = "dongying-2021",
    unit: Annotated[
        str | None,
        Query(
            min_length=1,
            max_length=100,
            description="One power company (供电单位): its outages and those of the units under "
            "it, over the customers of the lines they cut; unset for the city",
        ),
    ] = None,
    format: Literal["json", "xlsx"] = "json",
) -> ReliabilityReport | Response:
    report = await reliability(session, year, plan, unit)
    if format == "xlsx":
        name = f"reliability-{plan}-{year}.xlsx"
        return attachment(reliability_xlsx(report), XLSX_MEDIA_TYPE, name)
    return report


@router.get(
    "/reliability/customer-counts",
    summary="Official customers served per area class and year (官方用户数)",
)
async def list_official_counts(
    _principal: CurrentPrincipal,
    session: Session,
    year: Annotated[int | None, Query(ge=2000, le=2100)] = None,
) -> list[OfficialCountPublic]:
    found = await service.official_counts(session, year)
    return [OfficialCountPublic.model_validate(r, from_attributes=True) for r in found]


@router.put(
    "/reliability/customer-counts/{year}/{area_class}",
    summary="Record the official customers served; it takes precedence over the derived count",
)
async def set_official_count(
    year: Year,
    area_class: AreaClass,
    body: OfficialCountIn,
    staff: CurrentOperator,
    session: Session,
    now: Now,
) -> OfficialCountPublic:
    row = await service.set_official_count(
        session, year, area_class, body, by=staff.subject, now=now
    )
    return OfficialCountPublic.model_validate(row, from_attributes=True)


@router.delete(
    "/reliability/customer-counts/{year}/{area_class}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Drop an official figure; the count from the subscribers applies again",
)
async def remove_official_count(
    year: Year, area_class: AreaClass, _staff: CurrentOperator, session: Session
) -> Response:
    await service.remove_official_count(session, year, area_class)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
