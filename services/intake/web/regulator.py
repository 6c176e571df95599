"""The regulator's comparison page (监管对比页): every power company of the city side by side,
ranked as in a 通报, with a chart of the working days and an .xlsx download; the figures are
those of GET /regulator/comparison."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from services.intake.regulator import service
from services.intake.regulator.models import CompanyFigures, Period
from services.intake.regulator.reliability import outage_hours
from services.intake.regulator.xlsx import UNAVAILABLE, comparison_download
from shared.app import Client, Session
from shared.auth import Role
from shared.calendar import beijing_date
from shared.clock import Now
from shared.validation import FIRST_DAY, LAST_DAY
from shared.web.charts import BarChart, BarRow, bar_chart
from shared.web.pages import person_for, render, templates_for

router = APIRouter(prefix="/ui", include_in_schema=False)
templates = templates_for(Path(__file__).parent / "templates")
REGULATORS = (Role.supervisor, Role.viewer, Role.admin)  # services.intake.deps.CurrentRegulator


def days_chart(found: list[CompanyFigures]) -> BarChart:
    """Mean grid-side working days of the whole process per company, the P90 behind it."""
    return bar_chart(
        "各供电单位电网环节平均用时（工作日，浅色为P90）",
        [BarRow(c.unit, c.total.mean, behind=c.total.p90) for c in found if c.applications],
    )


def _year(text: str, default: int) -> int | None:
    text = text.strip()
    if not text:
        return default
    # isascii: '²'.isdigit() is True, but int('²') fails.
    if not (text.isascii() and text.isdigit()) or not FIRST_DAY.year <= int(text) <= LAST_DAY.year:
        return None
    return int(text)


@router.get("/regulator", response_model=None)
async def regulator_page(
    request: Request,
    session: Session,
    client: Client,
    now: Now,
    year: str = "",
    period: str = "",
    fmt: Annotated[str, Query(alias="format")] = "",
) -> Response:
    """The page, or with ``format=xlsx`` its figures as GET /regulator/comparison's .xlsx."""
    signed = await person_for(request, *REGULATORS)
    if not isinstance(signed, tuple):
        return signed
    principal, person = signed
    chosen = _year(year[:10], beijing_date(now).year)
    periods = [(p.value, p.label) for p in Period]
    if chosen is None or period not in ("", *Period):
        return render(
            templates,
            request,
            "regulator.html",
            person,
            status_code=422,
            error="年度或统计期间不可用，请重新选择。",
            form={"year": year[:10], "period": period[:10]},
            periods=periods,
        )
    shown = Period(period or Period.year)
    reliability, by_company = await outage_hours(client, chosen)
    report = await service.comparison(
        session, principal, chosen, shown, reliability, by_company, now=now
    )
    if fmt == "xlsx":
        return comparison_download(report)
    return render(
        templates,
        request,
        "regulator.html",
        person,
        form={"year": str(chosen), "period": shown.value},
        periods=periods,
        report=report,
        chart=days_chart(report.companies),
        unavailable=UNAVAILABLE,
    )
