"""Notify's outage pages (停电页面), in the shared layout (shared.web): the outages not yet over
(当前停电), of the dispatcher's units; one outage with its delivery progress (投递进度), the
repeated-outage warning (一停多用) and the forms that move it on (发布、开始停电、调整复电时间、
抢修进度、恢复送电、取消); the form that records a new one (登记停电). They call the outage
service as the API routes do."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

from fastapi import APIRouter, BackgroundTasks, Form, Request, Response
from fastapi.responses import RedirectResponse

from services.notify.deps import Config, Hours
from services.notify.messages import service as messages
from services.notify.messages.models import MessageFilter
from services.notify.messages.service import delivery_counts
from services.notify.outages import service
from services.notify.outages.access import (
    outage_for,
    sees_notes_whole,
    unit_for_new_outage,
    visible_units,
)
from services.notify.outages.listing import current_outages, to_public
from services.notify.outages.models import (
    KIND_LABELS,
    STATE_LABELS,
    Announcement,
    Cancellation,
    EtrChange,
    Moment,
    OutageChange,
    OutageCreate,
    OutageState,
    ProgressNote,
)
from services.notify.outages.repeats import repeat_warning
from services.notify.web.pages import (
    STAFF,
    count_table,
    refused,
    submit_page_form,
    templates,
)
from shared.app import Session
from shared.auth import Principal, Role
from shared.calendar import BEIJING
from shared.clock import Now
from shared.errors import HuodianError, Unprocessable
from shared.masking import masked_unless
from shared.pagination import PageParams
from shared.validation import Id
from shared.web.navigation import own_base
from shared.web.pages import PageForm, Person, Refusal, person_for, render

router = APIRouter(prefix="/ui", include_in_schema=False)

CHANGE_LABELS = {
    OutageChange.announced: "发布停电通知",
    OutageChange.started: "开始停电",
    OutageChange.etr_changed: "调整预计复电时间",
    OutageChange.progress: "抢修进度",
    OutageChange.restored: "恢复送电",
    OutageChange.cancelled: "取消",
}

# The longest text each form field takes (the pages' own maxlength).
LONGEST = {
    "kind": 40,
    "cause": 300,
    "planned_start": 40,
    "etr": 40,
    "at": 40,
    "feeders": 5000,
    "transformer_areas": 5000,
    "unit": 100,
    "note": 500,
    "reason": 300,
    "late_reason": 300,
    "acknowledge_overlap": 1,
}


class NewOutageForm(PageForm):
    """登记停电: the fields of OutageCreate, as typed."""

    kind: str = ""
    cause: str = ""
    planned_start: str = ""
    etr: str = ""
    feeders: str = ""
    transformer_areas: str = ""
    unit: str = ""


class ActionForm(PageForm):
    """The outage page's forms (Action): each sends the fields it has."""

    at: str = ""
    etr: str = ""
    note: str = ""
    reason: str = ""
    late_reason: str = ""
    acknowledge_overlap: str = ""


LOG_SHOWN = 100  # the outage's notices listed on its page, the first ones


class Action(StrEnum):
    """What the outage page's forms do, each the outage API's route of the same name."""

    announce = "announce"
    start = "start"
    etr = "etr"
    progress = "progress"
    restore = "restore"
    cancel = "cancel"


# The actions each state offers (the service refuses any other with outage_state).
ACTIONS = {
    OutageState.draft: (Action.announce, Action.cancel),
    OutageState.announced: (Action.start, Action.etr, Action.cancel),
    OutageState.started: (Action.etr, Action.progress, Action.restore),
}
DONE = {
    Action.announce: "已发布停电通知。",
    Action.start: "已记录开始停电。",
    Action.etr: "已调整预计复电时间。",
    Action.progress: "已发送抢修进度。",
    Action.restore: "已记录恢复送电。",
    Action.cancel: "已取消该停电。",
}


def _beijing(value: str) -> datetime | None:
    """A form's ``datetime-local`` value (Beijing time, no zone); None when left empty."""
    if not value.strip():
        return None
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        raise Unprocessable(f"Invalid input: {value}") from None
    return moment.replace(tzinfo=BEIJING) if moment.tzinfo is None else moment


def _names(value: str) -> list[str]:
    """Feeders or transformer areas typed one a line or separated by commas (，、,)."""
    for sep in ("，", "、", ",", "\r"):
        value = value.replace(sep, "\n")
    return [name.strip() for name in value.split("\n") if name.strip()]


@router.get("/", response_model=None)
async def outages(request: Request, session: Session) -> Response:
    signed = await person_for(request, *STAFF)
    if not isinstance(signed, tuple):
        return signed
    principal, person = signed
    found = await current_outages(session, units=visible_units(principal))
    return render(
        templates,
        request,
        "outages.html",
        person,
        outages=found,
        kinds=KIND_LABELS,
        states=STATE_LABELS,
        everyone=principal.role is Role.admin,
    )


async def _progress(session: Session, outage_id: int, principal: Principal) -> dict[str, Any]:
    """What ``outage_progress.html`` shows: the messages by state and channel, and the log."""
    counts = await delivery_counts(session, outage_id)
    log = await messages.list_messages(
        session, MessageFilter(outage_id=outage_id), PageParams(limit=LOG_SHOWN)
    )
    return {
        "log": masked_unless(log, sees_notes_whole(principal)),
        **count_table(counts),
    }


async def _outage_page(
    request: Request,
    session: Session,
    config: Config,
    principal: Principal,
    person: Person,
    outage_id: int,
    *,
    status_code: int = 200,
    **context: object,
) -> Response:
    outage = await outage_for(session, outage_id, principal)
    public = await to_public(session, outage, viewer=principal)
    return render(
        templates,
        request,
        "outage.html",
        person,
        status_code=status_code,
        outage=public,
        kinds=KIND_LABELS,
        states=STATE_LABELS,
        actions=ACTIONS.get(outage.state, ()),
        change_labels=CHANGE_LABELS,
        **await _progress(session, outage_id, principal),
        warning=await repeat_warning(session, outage, config.repeat_window_days),
        **context,
    )


@router.get("/outages/new", response_model=None)
async def new_outage(request: Request) -> Response:
    signed = await person_for(request, *STAFF)
    if not isinstance(signed, tuple):
        return signed
    principal, person = signed
    return _new_page(request, principal, person)


def _new_page(
    request: Request, principal: Principal, person: Person, status_code: int = 200, **form: object
) -> Response:
    return render(
        templates,
        request,
        "outage_new.html",
        person,
        status_code=status_code,
        kinds=KIND_LABELS,
        units=principal.units,
        form=form,
    )


@router.post("/outages", response_model=None)
async def create_outage(
    request: Request,
    session: Session,
    hours: Hours,
    now: Now,
    background: BackgroundTasks,
    form: Annotated[NewOutageForm, Form()],
) -> Response:
    signed = await person_for(request, *STAFF)
    if not isinstance(signed, tuple):
        return signed
    principal, person = signed
    typed = form.typed()

    async def act() -> Response:
        data = OutageCreate.model_validate(
            {
                "kind": form.kind,
                "cause": form.cause,
                "unit": form.unit or None,
                "feeders": _names(form.feeders),
                "transformer_areas": _names(form.transformer_areas),
                "planned_start": _beijing(form.planned_start),
                "etr": _beijing(form.etr),
            }
        )
        chosen = unit_for_new_outage(principal, data.unit)
        outage = await service.create(
            session, data, unit=chosen, by=principal.subject, now=now, hours=hours
        )
        background.add_task(request.app.state.worker.wake)  # after the commit, as the API does
        return RedirectResponse(f"{own_base(request)}/outages/{outage.id}", 303)

    async def on_refusal(why: Refusal) -> Response:
        await session.rollback()
        return _new_page(request, principal, person, why.status, error=why.message, **typed)

    return await submit_page_form(request, person, form, act, on_refusal, longest=LONGEST)


@router.get("/outages/{outage_id}", response_model=None)
async def outage_detail(
    request: Request,
    session: Session,
    config: Config,
    outage_id: Id,
    done: Action | None = None,
) -> Response:
    signed = await person_for(request, *STAFF)
    if not isinstance(signed, tuple):
        return signed
    principal, person = signed
    try:
        return await _outage_page(
            request,
            session,
            config,
            principal,
            person,
            outage_id,
            notice=DONE[done] if done else None,
        )
    except HuodianError as exc:
        return refused(request, person, exc)


@router.get("/outages/{outage_id}/progress", response_model=None)
async def outage_progress(request: Request, session: Session, outage_id: Id) -> Response:
    """The delivery progress alone (投递进度), the fragment the outage page fetches every few
    seconds (static/live.js); refused with an empty body, so the page keeps what it shows."""
    signed = await person_for(request, *STAFF)
    if not isinstance(signed, tuple):
        signed_out = signed.status_code in (302, 303)
        return Response(status_code=401 if signed_out else signed.status_code)
    principal, _person = signed
    try:
        outage = await outage_for(session, outage_id, principal)
    except HuodianError as exc:
        return Response(status_code=exc.status)
    shown = await _progress(session, outage_id, principal)
    return render(templates, request, "outage_progress.html", None, outage=outage, **shown)


async def _act(
    action: Action,
    session: Session,
    config: Config,
    hours: Hours,
    now: Now,
    principal: Principal,
    outage_id: int,
    form: dict[str, str],
) -> None:
    """Do ``action`` as the outage API's route of that name does."""
    outage = await outage_for(session, outage_id, principal)
    by = principal.subject
    if action is Action.announce:
        body = Announcement(
            acknowledge_overlap=form["acknowledge_overlap"] == "1",
            late_reason=form["late_reason"].strip() or None,
        )
        await service.announce(session, outage, body, by=by, now=now, settings=config, hours=hours)
    elif action is Action.start:
        at = Moment.model_validate({"at": _beijing(form["at"])}).at or now
        await service.start(session, outage, at=at, by=by, now=now, hours=hours)
    elif action is Action.etr:
        change = EtrChange.model_validate(
            {"etr": _beijing(form["etr"]), "note": form["note"].strip() or None}
        )
        await service.change_etr(
            session, outage, change.etr, change.note, by=by, now=now, hours=hours
        )
    elif action is Action.progress:
        note = ProgressNote.model_validate({"note": form["note"].strip()})
        await service.add_progress(session, outage, note.note, by=by, now=now, hours=hours)
    elif action is Action.restore:
        at = Moment.model_validate({"at": _beijing(form["at"])}).at or now
        await service.restore(session, outage, at=at, by=by, now=now, hours=hours)
    else:
        reason = Cancellation.model_validate({"reason": form["reason"].strip()})
        await service.cancel(session, outage, reason.reason, by=by, now=now, hours=hours)


@router.post("/outages/{outage_id}/{action}", response_model=None)
async def outage_action(
    request: Request,
    session: Session,
    config: Config,
    hours: Hours,
    now: Now,
    outage_id: Id,
    action: Action,
    background: BackgroundTasks,
    posted: Annotated[ActionForm, Form()],
) -> Response:
    signed = await person_for(request, *STAFF)
    if not isinstance(signed, tuple):
        return signed
    principal, person = signed
    form = posted.typed()

    async def act() -> Response:
        await _act(action, session, config, hours, now, principal, outage_id, form)
        background.add_task(request.app.state.worker.wake)  # after the commit, as the API does
        return RedirectResponse(f"{own_base(request)}/outages/{outage_id}?done={action}", 303)

    async def on_refusal(why: Refusal) -> Response:
        await session.rollback()  # nothing half-done stays
        try:
            return await _outage_page(
                request,
                session,
                config,
                principal,
                person,
                outage_id,
                status_code=why.status,
                error=why.message,
                failed=action,
                typed=form,
            )
        except HuodianError as exc:
            return refused(request, person, exc)

    return await submit_page_form(request, person, posted, act, on_refusal, longest=LONGEST)
