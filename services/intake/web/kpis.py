"""Intake's figures page (获得电力指标页): per customer type, the working days each stage took
against its limit, as SVG bar charts drawn on the server, from kpis.service.report (GET /kpis)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from fastapi import APIRouter, Request, Response

from services.intake.deps import Calendar
from services.intake.kpis import service as kpis
from services.intake.kpis.models import TypeFigures
from services.intake.kpis.service import KpiFilter
from services.intake.web.monitoring import STAFF
from shared.app import Session
from shared.calendar import beijing_date
from shared.clock import Now
from shared.errors import HuodianError, Unprocessable
from shared.validation import FIRST_DAY, LAST_DAY
from shared.web.charts import BarChart, BarRow, bar_chart
from shared.web.pages import person_for, render, templates_for

router = APIRouter(prefix="/ui", include_in_schema=False)
templates = templates_for(Path(__file__).parent / "templates")


def _day(text: str, default: date) -> date:
    """A date from a form field (YYYY-MM-DD), ``default`` when it is empty."""
    if not text.strip():
        return default
    try:
        day = date.fromisoformat(text.strip())
    except ValueError:
        raise Unprocessable("the period is not usable", code="invalid_period") from None
    if not FIRST_DAY <= day <= LAST_DAY:
        raise Unprocessable("the period is not usable", code="invalid_period")
    return day


def stage_chart(figures: TypeFigures) -> BarChart:
    """Mean grid-side working days per stage (bar), the P90 behind it, the limit marked."""
    return bar_chart(
        f"{figures.label}：各环节平均用时与时限（工作日）",
        [
            BarRow(s.label, s.grid.mean, behind=s.grid.p90, limit=s.limit_days)
            for s in figures.stages
        ],
    )


@router.get("/kpis", response_model=None)
async def kpi_page(
    request: Request,
    session: Session,
    calendar: Calendar,
    now: Now,
    period_start: str = "",
    period_end: str = "",
    unit: str = "",
) -> Response:
    signed = await person_for(request, *STAFF)
    if not isinstance(signed, tuple):
        return signed
    principal, person = signed
    today = beijing_date(now)
    unit = unit.strip()[:100]
    form = {"period_start": period_start[:10], "period_end": period_end[:10], "unit": unit}
    try:
        flt = KpiFilter(
            period_start=_day(period_start, today.replace(month=1, day=1)),
            period_end=_day(period_end, today),
            unit=unit or None,
        )
        report = await kpis.report(session, principal, flt, calendar, now=now)
    except HuodianError as exc:
        return render(
            templates,
            request,
            "kpis.html",
            person,
            status_code=exc.status,
            error=exc.detail,
            form=form,
        )
    form.update(period_start=flt.period_start.isoformat(), period_end=flt.period_end.isoformat())
    return render(
        templates,
        request,
        "kpis.html",
        person,
        form=form,
        report=report,
        charts=[(t, stage_chart(t)) for t in report.types],
    )
