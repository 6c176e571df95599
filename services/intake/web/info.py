"""The public information pages (信息公开页面): anyone may read them, phone first, no sign-in.

The process of each customer type (办理流程), its time limits (办理时限, Annex 1 of the plan as the
time-limit policy in force holds it), the documents of each stage (申请资料), the fees that may be
charged with their legal basis and those that may never be (收费项目), and the open grid capacity
(配电网接入能力). Every page renders what ``GET /public/disclosure`` and ``GET /public/capacity``
answer (services.intake.disclosure): nothing here is typed a second time.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from services.intake.disclosure import service
from services.intake.policies.service import reference_versions
from services.intake.rules.disclosure import load_disclosure_texts
from shared.app import Session
from shared.calendar import beijing_date
from shared.clock import Now
from shared.errors import HuodianError
from shared.web.pages import render, templates_for

router = APIRouter(prefix="/ui/info", include_in_schema=False)
templates = templates_for(Path(__file__).parent / "templates")

TOPICS = {
    "process": ("办理流程", "各类用户的办理环节"),
    "limits": ("办理时限", "各环节和全流程的工作日时限"),
    "documents": ("申请资料", "各环节需要提供的资料"),
    "fees": ("收费项目", "可以收取的费用及依据，严禁收取的费用"),
    "capacity": ("配电网接入能力", "各台区可开放容量及容量受限情况"),
}


@cache
def jurisdictions() -> dict[str, str]:
    """The jurisdictions whose plans were entered (code → name), in the order of the data."""
    names = {v.jurisdiction: v.jurisdiction_name for v in reference_versions()}
    return {code: names.get(code, code) for code in load_disclosure_texts().jurisdictions}


def _page(
    request: Request,
    name: str,
    topic: str,
    jurisdiction: str,
    status_code: int = 200,
    **context: object,
) -> HTMLResponse:
    return render(
        templates,
        request,
        name,
        None,
        status_code=status_code,
        public=True,
        topics=TOPICS,
        topic=topic,
        jurisdictions=jurisdictions(),
        jurisdiction=jurisdiction,
        **context,
    )


Jurisdiction = Annotated[str, Query(description="如 dongying")]


@router.get("", response_class=HTMLResponse)
async def index(request: Request, jurisdiction: Jurisdiction = "dongying") -> HTMLResponse:
    """What may be read here, topic by topic (信息公开)."""
    if jurisdiction not in jurisdictions():
        return _unknown(request, "")
    return _page(request, "info.html", "", jurisdiction)


@router.get("/capacity", response_class=HTMLResponse)
async def capacity(request: Request, session: Session) -> HTMLResponse:
    """The open capacity staff keep per area; where none is kept, the page says so."""
    shown = await service.capacity(session)
    return _page(request, "info_capacity.html", "capacity", "", capacity=shown)


@router.get("/{topic}", response_class=HTMLResponse)
async def disclosed(
    request: Request,
    session: Session,
    now: Now,
    topic: str,
    jurisdiction: Jurisdiction = "dongying",
) -> HTMLResponse:
    """One topic of the disclosure of a jurisdiction, under the policies in force today."""
    if topic not in TOPICS or topic == "capacity":
        return _page(request, "info.html", "", "", 404, error="没有这个公开信息页面。")
    if jurisdiction not in jurisdictions():
        return _unknown(request, topic)
    try:
        shown = await service.disclosure(session, jurisdiction, beijing_date(now))
    except HuodianError as exc:  # no time-limit policy in force there today
        return _page(request, "info.html", topic, jurisdiction, exc.status, error=exc.detail)
    return _page(request, f"info_{topic}.html", topic, jurisdiction, disclosure=shown)


def _unknown(request: Request, topic: str) -> HTMLResponse:
    error = "没有该地区的公开信息，请从下列地区中选择。"
    return _page(request, "info.html", topic, "", 404, error=error)
