"""Intake's pages for the work in hand (在办与督办): the open applications, each coloured by its
clock (正常 / 预警 / 超期), and the escalations (督办) a supervisor takes up and resolves.

The handlers call the functions the API routes call (applications.reading.list_applications,
monitoring.escalations); what those refuse is shown in Chinese, from the error catalogue.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse

from services.intake.applications import reading as applications
from services.intake.applications.models import ApplicationStatus, WatchState
from services.intake.applications.reading import ApplicationFilter
from services.intake.deps import Calendar
from services.intake.monitoring import escalations as monitoring
from services.intake.monitoring.escalations import EscalationFilter
from services.intake.monitoring.models import (
    ESCALATION_STATE_LABELS,
    Acknowledgement,
    EscalationState,
    Resolution,
)
from services.intake.policies.models import STAGE_LABELS, Stage
from shared.app import Session
from shared.auth import Principal, Role
from shared.calendar import beijing_date
from shared.clock import Now
from shared.errors import HuodianError, Unprocessable
from shared.pagination import PageParams
from shared.validation import Id
from shared.web.navigation import own_base
from shared.web.pages import (
    FormText,
    Person,
    Refusal,
    person_for,
    render,
    submit_form,
    templates_for,
)

router = APIRouter(prefix="/ui", include_in_schema=False)
templates = templates_for(Path(__file__).parent / "templates")

STAFF = (Role.clerk, Role.supervisor, Role.admin, Role.viewer)
# Who may take up and resolve an escalation (services.intake.deps.CurrentSupervisor).
HANDLERS = (Role.supervisor, Role.admin)
WATCH_LABELS = {
    WatchState.on_time: "正常",
    WatchState.at_risk: "预警",
    WatchState.overdue: "超期",
    WatchState.paused: "暂停计时",
}
SHOWN = 200  # the rows one page lists (the API's limit is 500)


def _stage(text: str) -> Stage | None:
    """The stage a filter names, or None for every stage (an unknown name selects nothing)."""
    return Stage(text) if text in Stage._value2member_map_ else None


def _stages() -> list[tuple[str, str]]:
    return [(s.value, STAGE_LABELS[s]) for s in Stage]


@router.get("/open", response_model=None)
async def open_applications(
    request: Request,
    session: Session,
    calendar: Calendar,
    now: Now,
    stage: str = "",
    unit: str = "",
) -> Response:
    """在办申请: open and paused applications, each coloured by its clock."""
    signed = await person_for(request, *STAFF)
    if not isinstance(signed, tuple):
        return signed
    principal, person = signed
    chosen, unit = _stage(stage), unit.strip()[:100]
    today = beijing_date(now)
    try:
        found = [
            await applications.list_applications(
                session,
                principal,
                ApplicationFilter(status=status, unit=unit or None, stage=chosen),
                calendar,
                today,
                PageParams(limit=SHOWN),
            )
            for status in (ApplicationStatus.open, ApplicationStatus.paused)
        ]
    except HuodianError as exc:
        return render(
            templates,
            request,
            "open.html",
            person,
            status_code=exc.status,
            error=exc.detail,
            rows=[],
            total=0,
            stage=stage,
            unit=unit,
            stages=_stages(),
        )
    rows = sorted(
        (a for page in found for a in page.items),
        key=lambda a: (a.clock.due_date.isoformat() if a.clock else "9999", a.number),
    )
    return render(
        templates,
        request,
        "open.html",
        person,
        rows=rows,
        total=sum(page.total for page in found),
        watch_labels=WATCH_LABELS,
        stage=stage,
        unit=unit,
        stages=_stages(),
    )


async def _escalations_page(
    request: Request,
    session: Session,
    principal: Principal,
    person: Person,
    state: str,
    *,
    status_code: int = 200,
    **context: object,
) -> HTMLResponse:
    chosen = EscalationState(state) if state in EscalationState._value2member_map_ else None
    page = await monitoring.list_escalations(
        session, principal, EscalationFilter(state=chosen), PageParams(limit=SHOWN)
    )
    return render(
        templates,
        request,
        "escalations.html",
        person,
        status_code=status_code,
        page=page,
        state=state,
        states=[(s.value, ESCALATION_STATE_LABELS[s]) for s in EscalationState],
        can_handle=person.role in HANDLERS,
        **context,
    )


@router.get("/escalations", response_model=None)
async def escalations(
    request: Request, session: Session, state: str = "open", done: str = ""
) -> Response:
    """督办事项: the escalations the person may see, newest first."""
    signed = await person_for(request, *STAFF)
    if not isinstance(signed, tuple):
        return signed
    notice = {"acknowledged": "已受理该督办。", "resolved": "该督办已办结。"}.get(done)
    return await _escalations_page(request, session, *signed, state, notice=notice)


async def _handle(
    request: Request,
    session: Session,
    escalation_id: int,
    csrf: str,
    action: str,
    text: str,
    now: Now,
) -> Response:
    signed = await person_for(request, *HANDLERS)
    if not isinstance(signed, tuple):
        return signed
    principal, person = signed

    async def act() -> Response:
        if action == "acknowledged":
            await monitoring.acknowledge(
                session,
                escalation_id,
                Acknowledgement(note=text[:2000]),
                principal=principal,
                now=now,
            )
        else:
            if not text.strip():
                raise Unprocessable("the resolution (处理情况) is empty")
            await monitoring.resolve(
                session,
                escalation_id,
                Resolution(resolution=text[:2000]),
                principal=principal,
                now=now,
            )
        return RedirectResponse(f"{own_base(request)}/escalations?state=&done={action}", 303)

    async def refused(why: Refusal) -> Response:
        # Both functions check before they write: a refusal leaves nothing half-written.
        await session.rollback()
        return await _escalations_page(
            request,
            session,
            principal,
            person,
            "",
            status_code=why.status,
            error=why.message,
            failed=escalation_id,
        )

    return await submit_form(request, person.token, csrf, act, refused)


@router.post("/escalations/{escalation_id}/acknowledge", response_model=None)
async def acknowledge(
    request: Request,
    session: Session,
    escalation_id: Id,
    now: Now,
    csrf: FormText = "",
    note: FormText = "",
) -> Response:
    """受理督办, as POST /escalations/{id}/acknowledge."""
    return await _handle(request, session, escalation_id, csrf, "acknowledged", note, now)


@router.post("/escalations/{escalation_id}/resolve", response_model=None)
async def resolve(
    request: Request,
    session: Session,
    escalation_id: Id,
    now: Now,
    csrf: FormText = "",
    resolution: FormText = "",
) -> Response:
    """督办办结, as POST /escalations/{id}/resolve."""
    return await _handle(request, session, escalation_id, csrf, "resolved", resolution, now)
