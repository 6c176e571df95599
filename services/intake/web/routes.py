"""Server-rendered pages of intake, in the shared layout (shared.web): for staff, the
applications still being handled, counted by stage; for applicants, their progress (办电进度)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Form, Request, Response
from fastapi.responses import HTMLResponse

from services.intake.applications import reading
from services.intake.applications.query_codes import applicant_application
from services.intake.applications.why import applicant_why
from services.intake.deps import Calendar
from services.intake.flows import service as flows
from services.intake.policies.models import STAGE_LABELS
from shared.app import Session
from shared.auth import Role
from shared.calendar import beijing_date
from shared.clock import Now
from shared.errors import NotFound
from shared.ratelimit import RateLimited
from shared.web.pages import person_for, render, templates_for

router = APIRouter(prefix="/ui", include_in_schema=False)
templates = templates_for(Path(__file__).parent / "templates")

# The roles that may read applications (services.intake.deps.Staff).
STAFF = (Role.clerk, Role.supervisor, Role.admin, Role.viewer)
# Whose applications a role sees (services.intake.access.visible_to).
SCOPES = {Role.clerk: "本单位受理的申请", Role.supervisor: "本单位监管的申请"}


@router.get("/", response_model=None)
async def applications(request: Request, session: Session) -> Response:
    signed = await person_for(request, *STAFF)
    if not isinstance(signed, tuple):
        return signed
    principal, person = signed
    counts = await reading.open_by_stage(session, principal)
    return render(
        templates,
        request,
        "applications.html",
        person,
        counts=[(STAGE_LABELS[c.stage], c.open, c.paused) for c in counts],
        total_open=sum(c.open for c in counts),
        total_paused=sum(c.paused for c in counts),
        scope=SCOPES.get(person.role, "全部申请"),
    )


# Numbers and query codes are short (see services.intake.applications.routes.QueryCode); longer
# input is nobody's application, refused before a try is counted.
_LONGEST = 40
STAGE_STATES = {"done": "已完成", "open": "办理中", "pending": "未开始"}


def _progress_page(request: Request, status_code: int = 200, **context: object) -> HTMLResponse:
    return render(
        templates,
        request,
        "progress.html",
        None,
        status_code=status_code,
        public=True,
        stage_states=STAGE_STATES,
        **context,
    )


@router.get("/progress", response_class=HTMLResponse)
async def progress_form(request: Request) -> HTMLResponse:
    """The applicant's progress page (办电进度查询): no account, the number and query code."""
    return _progress_page(request)


@router.post("/progress", response_class=HTMLResponse)
async def progress(
    request: Request,
    session: Session,
    calendar: Calendar,
    now: Now,
    number: Annotated[str, Form()] = "",
    code: Annotated[str, Form()] = "",
) -> HTMLResponse:
    """Posted, not a query string: the code stays out of addresses, history and access logs."""
    number, code = number.strip(), code.strip()
    if not number or not code or len(number) > _LONGEST or len(code) > _LONGEST:
        return _progress_page(
            request, 422, number=number[:_LONGEST], error="请填写申请编号和查询码。"
        )
    try:
        application = await applicant_application(request, session, number, code, now)
    except RateLimited:
        return _progress_page(request, 429, number=number, error="尝试次数过多，请稍后再试。")
    except NotFound:
        return _progress_page(
            request, 404, number=number, error="申请编号或查询码不正确，请核对后重试。"
        )
    today = beijing_date(now)
    shown = await flows.progress(session, application, today=today)
    why = await applicant_why(session, application, calendar, today)
    return _progress_page(request, shown=shown, why=why)
