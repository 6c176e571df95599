"""The regulator's comparison over HTTP, as JSON or .xlsx (监管对比)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Response

from services.intake.deps import CurrentRegulator
from services.intake.regulator import service
from services.intake.regulator.models import Comparison, Period
from services.intake.regulator.reliability import outage_hours
from services.intake.regulator.xlsx import comparison_download
from shared.app import Client, Session
from shared.clock import Now
from shared.downloads import XLSX_MEDIA_TYPE
from shared.validation import Year

router = APIRouter(tags=["regulator"])


@router.get(
    "/regulator/comparison",
    summary="Every power company of the city side by side, ranked (各供电单位指标对比与通报排名)",
    response_model=Comparison,
    responses={200: {"content": {XLSX_MEDIA_TYPE: {}}}},
)
async def comparison(
    regulator: CurrentRegulator,
    session: Session,
    client: Client,
    now: Now,
    year: Year,
    period: Period = Period.year,
    fmt: Annotated[Literal["json", "xlsx"], Query(alias="format")] = "json",
) -> Comparison | Response:
    reliability, by_company = await outage_hours(client, year)
    result = await service.comparison(
        session, regulator, year, period, reliability, by_company, now=now
    )
    if fmt == "json":
        return result
    return comparison_download(result)
