"""Server-rendered pages of intake, in the shared layout (shared.web): for staff, the
applications still being handled, counted by stage; for applicants, their progress (办电进度)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse
from pydantic import ValidationError

from services.intake.applications import reading
from services.intake.applications.loading import get_application
from services.intake.applications.models import Application
from services.intake.applications.query_codes import applicant_application
from services.intake.applications.requests import RatingRequest
from services.intake.applications.why import applicant_why
from services.intake.deps import Calendar
from services.intake.flows import service as flows
from services.intake.policies.models import STAGE_LABELS
from services.intake.web.info import TOPICS
from shared.app import Session, SettingsDep
from shared.auth import Role
from shared.calendar import beijing_date
from shared.clock import Now
from shared.errors import HuodianError, NotFound
from shared.ratelimit import RateLimited
from shared.settings import Settings
from shared.web.pages import FormText, person_for, render, templates_for
from shared.web.session import BadCsrf, check_csrf, csrf_token

router = APIRouter(prefix="/ui", include_in_schema=False)
templates = templates_for(Path(__file__).parent / "templates")

# The roles that may read applications (services.intake.deps.CurrentStaff).
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
        info_topics=TOPICS,
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
    number: FormText = "",
    code: FormText = "",
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
    return await _shown(request, session, calendar, application, now)


async def _shown(
    request: Request,
    session: Session,
    calendar: Calendar,
    application: Application,
    now: datetime,
    status_code: int = 200,
    **context: object,
) -> HTMLResponse:
    """The progress page of one application, with its rating form while it may be rated."""
    today = beijing_date(now)
    shown = await flows.progress(session, application, today=today)
    why = await applicant_why(session, application, calendar, today)
    settings = request.app.state.settings
    ticket = rating_ticket(settings, application) if shown.can_rate else ""
    return _progress_page(
        request,
        status_code,
        shown=shown,
        why=why,
        rating_ticket=ticket,
        live_ticket=live_ticket(settings, application),
        scores=SCORES,
        jurisdiction=application.jurisdiction,
        **context,
    )


def rating_ticket(settings: Settings, application: Application) -> str:
    """The rating form's token (评价表单令牌): given only on a page shown for the right query
    code, and bound to the number and the code's stored digest, so it proves the code was given
    without the code being put into the page, and no other site can forge it (the one CSRF
    check, shared.web.session). A code changed since makes it void."""
    return csrf_token(settings, _rating_binding(application))


def _rating_binding(application: Application) -> str:
    return f"applicant:{application.number}:{application.query_code_hash}"


def live_ticket(settings: Settings, application: Application) -> str:
    """The refresh form's token (刷新令牌): as the rating ticket, it proves the query code was
    given without putting the code into the page, for another purpose (a refresh is no rating)."""
    return csrf_token(settings, _live_binding(application))


def _live_binding(application: Application) -> str:
    return f"applicant-live:{application.number}:{application.query_code_hash}"


@router.post("/progress/refresh", response_model=None)
async def refresh_progress(
    request: Request,
    session: Session,
    settings: SettingsDep,
    calendar: Calendar,
    now: Now,
    number: FormText = "",
    ticket: FormText = "",
    part: str = "",
) -> Response:
    """The progress page again (刷新) by its ticket (live_ticket), without the query code; with
    ``part=live`` only what changes (progress_live.html), the fragment static/live.js fetches
    every few seconds, refused with an empty body so that the page keeps what it shows."""
    try:
        application = await _ticketed(settings, session, number, ticket, _live_binding)
    except BadCsrf as exc:
        if part == "live":
            return Response(status_code=exc.status)
        return _progress_page(request, exc.status, number=number[:_LONGEST], error=exc.detail)
    if part != "live":  # anything else: the whole page (a page never answers JSON)
        return await _shown(request, session, calendar, application, now)
    shown = await flows.progress(session, application, today=beijing_date(now))
    return render(
        templates,
        request,
        "progress_live.html",
        None,
        shown=shown,
        stage_states=STAGE_STATES,
    )


SCORES = {5: "非常满意", 4: "满意", 3: "一般", 2: "不满意", 1: "非常不满意"}


@router.post("/progress/rating", response_class=HTMLResponse)
async def rate(
    request: Request,
    session: Session,
    settings: SettingsDep,
    calendar: Calendar,
    now: Now,
    number: FormText = "",
    csrf: FormText = "",
    score: FormText = "",
    comment: FormText = "",
) -> HTMLResponse:
    """The rating once connected (服务线上评价), once: the form of the progress page, checked
    by its ticket (rating_ticket) instead of the query code."""
    try:
        # Locked: two ratings at once (a double click) must not both append to the log.
        application = await _ticketed(
            settings, session, number, csrf, _rating_binding, for_update=True
        )
    except BadCsrf as exc:
        return _progress_page(request, exc.status, number=number[:_LONGEST], error=exc.detail)
    try:
        data = RatingRequest.model_validate({"score": score, "comment": comment.strip()})
    except ValidationError:
        error = "请选择满意程度（1至5星），意见不超过1000字。"
        return await _shown(request, session, calendar, application, now, 422, error=error)
    try:
        await flows.rate(session, application, data, now=now)
    except HuodianError as exc:  # not connected yet, or rated already: nothing was written
        return await _shown(
            request, session, calendar, application, now, exc.status, error=exc.detail
        )
    return await _shown(request, session, calendar, application, now, notice="感谢您的评价！")


async def _ticketed(
    settings: Settings,
    session: Session,
    number: str,
    ticket: str,
    binding: Callable[[Application], str],
    *,
    for_update: bool = False,
) -> Application:
    """The application a page's ticket (rating_ticket, live_ticket) was given for; a wrong
    ticket or an unknown number is refused alike (BadCsrf): the page tells no numbers apart."""
    number = number.strip()
    application = None
    if number and len(number) <= _LONGEST:
        with contextlib.suppress(NotFound):
            application = await get_application(session, number, for_update=for_update)
    if application is None:
        raise BadCsrf("the form's CSRF token does not match the session")
    check_csrf(settings, binding(application), ticket)
    return application
