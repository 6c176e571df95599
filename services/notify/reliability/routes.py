"""Reliability statistics over HTTP, JSON or .xlsx (供电可靠性统计)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Response

from services.notify.reliability.service import ReliabilityReport, Targets, reliability, targets
from services.notify.reliability.xlsx import reliability_xlsx
from shared.app import Session
from shared.auth import CurrentPrincipal
from shared.downloads import XLSX_MEDIA_TYPE, attachment

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
    format: Literal["json", "xlsx"] = "json",
) -> ReliabilityReport | Response:
    report = await reliability(session, year, plan)
    if format == "xlsx":
        name = f"reliability-{plan}-{year}.xlsx"
        return attachment(reliability_xlsx(report), XLSX_MEDIA_TYPE, name)
    return report
