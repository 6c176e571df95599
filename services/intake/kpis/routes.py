"""Getting Electricity figures over HTTP, as JSON or .xlsx (获得电力指标)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Response

from services.intake.deps import Calendar, CurrentStaff
from services.intake.kpis import service
from services.intake.kpis.models import KpiReport
from services.intake.kpis.service import KpiFilter
from services.intake.kpis.xlsx import kpi_xlsx
from shared.app import Session
from shared.clock import Now
from shared.downloads import XLSX_MEDIA_TYPE, attachment
from shared.validation import Day

router = APIRouter(tags=["kpis"])


@router.get(
    "/kpis",
    summary="Figures per customer type for a period of connections (获得电力指标)",
    response_model=KpiReport,
    responses={200: {"content": {XLSX_MEDIA_TYPE: {}}}},
)
async def kpis(
    staff: CurrentStaff,
    session: Session,
    calendar: Calendar,
    now: Now,
    period_start: Annotated[Day, Query(description="接电日期起（北京时间）")],
    period_end: Annotated[Day, Query(description="接电日期止（含）")],
    jurisdiction: str | None = None,
    unit: str | None = None,
    fmt: Annotated[Literal["json", "xlsx"], Query(alias="format")] = "json",
) -> KpiReport | Response:
    flt = KpiFilter(
        period_start=period_start, period_end=period_end, jurisdiction=jurisdiction, unit=unit
    )
    result = await service.report(session, staff, flt, calendar, now=now)
    if fmt == "json":
        return result
    return attachment(kpi_xlsx(result), XLSX_MEDIA_TYPE, f"kpis-{period_start}-{period_end}.xlsx")
