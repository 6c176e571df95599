"""The reliability page (供电可靠性): outage hours per customer by area class against the plan's
targets, drawn as a bar chart on the server; for dispatchers and administrators."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from services.notify.reliability.service import reliability, targets
from services.notify.web.pages import (
    STAFF,
    refused,
    templates,
)
from shared.app import Session
from shared.calendar import beijing_date
from shared.clock import Now
from shared.errors import HuodianError
from shared.validation import Year
from shared.web.charts import BarRow, bar_chart
from shared.web.pages import person_for, render

router = APIRouter(prefix="/ui", include_in_schema=False)


@router.get("/reliability", response_model=None)
async def reliability_page(
    request: Request,
    session: Session,
    now: Now,
    year: Year | None = None,
    plan: Annotated[str, Query(max_length=100)] = "dongying-2021",
) -> Response:
    """Outage hours per customer (户均停电时间) by area class against the plan's targets."""
    signed = await person_for(request, *STAFF)
    if not isinstance(signed, tuple):
        return signed
    _, person = signed
    chosen = year or beijing_date(now).year
    try:
        report = await reliability(session, chosen, plan)
    except HuodianError as exc:
        return refused(request, person, exc)
    chart = bar_chart(
        f"{chosen}年户均停电时间与目标",
        [
            BarRow(c.area_class.label, round(c.total.saidi_hours, 2), limit=c.target_hours)
            for c in report.area_classes
        ],
        unit="小时",
    )
    return render(
        templates,
        request,
        "reliability.html",
        person,
        report=report,
        chart=chart,
        plans=targets().plans,
        year=chosen,
    )
