"""Server-rendered pages of notify, in the shared layout (shared.web): the outages not yet over
(当前停电), of the dispatcher's units; one outage with its delivery progress (投递进度), the
repeated-outage warning (一停多用) and the forms that move it on (发布、开始停电、调整复电时间、
抢修进度、恢复送电、取消); the form that records a new one (登记停电). They call the outage
service as the API routes do."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, BackgroundTasks, Form, Query, Request, Response
from fastapi.responses import RedirectResponse
from pydantic import TypeAdapter, ValidationError

from services.notify.delivery.fallbacks import chain_of
from services.notify.delivery.service import channel_health
from services.notify.deps import Hours, NotifyConfig
from services.notify.messages import service as messages
from services.notify.messages.models import Channel, MessagePublic, MessageState
from services.notify.messages.service import MessageFilter, delivery_counts
from services.notify.outages import service
from services.notify.outages.access import outage_for, unit_for_new_outage, visible_units
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
from services.notify.reliability.service import reliability, targets
from services.notify.templates.service import templates as shipped_templates
from shared.app import Session
from shared.auth import Principal, Role
from shared.calendar import BEIJING, beijing_date
from shared.clock import Now
from shared.errors import HuodianError, Unprocessable, chinese_detail
from shared.masking import masked_unless
from shared.pagination import PageParams
from shared.validation import Id, Year
from shared.web.charts import BarRow, bar_chart
from shared.web.navigation import own_base
from shared.web.pages import (
    PageForm,
    Person,
    Refusal,
    Refused,
    person_for,
    render,
    submit_form,
    templates_for,
)

router = APIRouter(prefix="/ui", include_in_schema=False)
templates = templates_for(Path(__file__).parent / "templates")
# The roles of the outage API (services.notify.deps.Dispatcher).
STAFF = (Role.dispatcher, Role.admin)
CHANNEL_LABELS = {
    Channel.email: "邮件",
    Channel.sms: "短信",
    Channel.wecom: "企业微信",
    Channel.dingtalk: "钉钉",
    Channel.webhook: "回调",
}
MESSAGE_STATE_LABELS = {
    MessageState.queued: "待发送",
    MessageState.sending: "发送中",
    MessageState.sent: "已发送",
    MessageState.failed: "发送失败",
    MessageState.dead: "死信",
    MessageState.superseded: "已取代",
}

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
MESSAGE_ID = TypeAdapter(Id)


class NewOutageForm(PageForm):
    """登记停电: the fields of OutageCreate, as typed."""

    kind: str = ""
    cause: str = ""
    planned_start: str = ""
    etr: str = ""
    feeders: str = ""
    transformer_areas: str = ""
    unit: str = ""


class ResendForm(PageForm):
    """Re-send one dead letter (its id), or all of them (none)."""

    message_id: str = ""


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


def _count_table(counts: dict[tuple[MessageState, Channel], int]) -> dict[str, object]:
    """Messages by state and channel as ``counts.html`` draws them: the rows and columns that
    have any."""
    return {
        "counts": counts,
        "channels": sorted({c for _, c in counts}, key=list(Channel).index),
        "message_states": sorted({s for s, _ in counts}, key=list(MessageState).index),
        "channel_labels": CHANNEL_LABELS,
        "message_state_labels": MESSAGE_STATE_LABELS,
        "total_messages": sum(counts.values()),
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


def _message(exc: HuodianError | ValidationError) -> str:
    if isinstance(exc, ValidationError):
        fields = ", ".join(sorted({str(e["loc"][0]) for e in exc.errors() if e["loc"]}))
        return chinese_detail("validation_failed", f"Invalid input: {fields}")
    return chinese_detail(exc.code, exc.detail)


async def _submit(
    request: Request,
    person: Person,
    posted: PageForm,
    act: Callable[[], Awaitable[Response]],
    refused: Refused,
) -> Response:
    """A form of notify's pages, as shared.web.pages.submit_form takes it."""
    return await submit_form(
        request,
        person.token,
        posted.csrf,
        act,
        refused,
        values=posted.typed(),
        longest=LONGEST,
        message=_message,
    )


@router.get("/", response_model=None)
async def outages(request: Request, session: Session) -> Response:
    signed = await person_for(request, *STAFF)
    if not isinstance(signed, tuple):
        return signed
    principal, person = signed
    found = await service.current_outages(session, units=visible_units(principal))
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


async def _outage_page(
    request: Request,
    session: Session,
    config: NotifyConfig,
    principal: Principal,
    person: Person,
    outage_id: int,
    *,
    status_code: int = 200,
    **context: object,
) -> Response:
    outage = await outage_for(session, outage_id, principal)
    public = await service.to_public(session, outage, viewer=principal)
    counts = await delivery_counts(session, outage_id)
    log = await messages.list_messages(
        session, MessageFilter(outage_id=outage_id), PageParams(limit=LOG_SHOWN)
    )
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
        log=masked_unless(log, service.sees_notes_whole(principal)),
        **_count_table(counts),
        warning=await service.repeat_warning(session, outage, config.repeat_window_days),
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

    async def refused(why: Refusal) -> Response:
        await session.rollback()
        return _new_page(request, principal, person, why.status, error=why.message, **typed)

    return await _submit(request, person, form, act, refused)


@router.get("/outages/{outage_id}", response_model=None)
async def outage_detail(
    request: Request,
    session: Session,
    config: NotifyConfig,
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
        return _refused(request, person, exc)


def _refused(
    request: Request, person: Person, exc: HuodianError, heading: str = "无法打开此停电"
) -> Response:
    return render(
        templates,
        request,
        "refused.html",
        person,
        status_code=exc.status,
        error=_message(exc),
        heading=heading,
    )


async def _act(
    action: Action,
    session: Session,
    config: NotifyConfig,
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
    config: NotifyConfig,
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

    async def refused(why: Refusal) -> Response:
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
            return _refused(request, person, exc)

    return await _submit(request, person, posted, act, refused)


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
        return _refused(request, person, exc)
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


DEAD_SHOWN = 50


async def _delivery_page(
    request: Request, session: Session, person: Person, status_code: int = 200, **context: object
) -> Response:
    dead = await messages.list_messages(
        session, MessageFilter(state=MessageState.dead), PageParams(limit=DEAD_SHOWN)
    )
    return render(
        templates,
        request,
        "delivery.html",
        person,
        status_code=status_code,
        health=await channel_health(session, request.app.state.channels.senders.keys()),
        dead=masked_unless(dead, False),  # an administrator reads them masked, as in the API
        **_count_table(await delivery_counts(session)),
        **context,
    )


@router.get("/delivery", response_model=None)
async def delivery(request: Request, session: Session, resent: int | None = None) -> Response:
    """The queue by channel and state, the channels' health (熔断) and the dead letters."""
    signed = await person_for(request, Role.admin)
    if not isinstance(signed, tuple):
        return signed
    notice = None if resent is None else f"已重新排队 {resent} 条。"
    return await _delivery_page(request, session, signed[1], notice=notice)


@router.post("/delivery/resend", response_model=None)
async def resend(
    request: Request,
    session: Session,
    now: Now,
    background: BackgroundTasks,
    posted: Annotated[ResendForm, Form()],
) -> Response:
    """Re-send one dead letter, or all of them (without ``message_id``)."""
    signed = await person_for(request, Role.admin)
    if not isinstance(signed, tuple):
        return signed
    _, person = signed

    async def act() -> Response:
        if not posted.message_id:
            count = (await messages.resend_dead(session, kind=None, channel=None, now=now)).requeued
        else:
            message_id = MESSAGE_ID.validate_python(posted.message_id)
            await messages.resend(session, message_id, now=now)
            count = 1
        background.add_task(request.app.state.worker.wake)
        return RedirectResponse(f"{own_base(request)}/delivery?resent={count}", 303)

    async def refused(why: Refusal) -> Response:
        await session.rollback()
        return await _delivery_page(
            request, session, person, status_code=why.status, error=why.message
        )

    return await _submit(request, person, posted, act, refused)


OUTCOME_LABELS = {
    "sent": "已发送",
    "failed": "失败，待重试",
    "dead": "死信",
    "held": "渠道熔断，暂存",
}
FALLBACK_LABELS = {
    "queued": "已转备用渠道",
    "existing": "备用渠道已有此消息",
    "no_rule": "未设备用渠道",
    "no_address": "备用渠道无地址",
}


@router.get("/messages/{message_id}", response_model=None)
async def message_page(request: Request, session: Session, message_id: Id) -> Response:
    """One message and its chain of attempts (投递链): each channel tried, when (Beijing time,
    +08:00), the outcome, the provider's receipt and the fallback a dead letter led to."""
    signed = await person_for(request, Role.admin)
    if not isinstance(signed, tuple):
        return signed
    _, person = signed
    try:
        found = await messages.get_message(session, message_id)
    except HuodianError as exc:
        return _refused(request, person, exc, heading="无法打开此消息")
    return render(
        templates,
        request,
        "message.html",
        person,
        message=masked_unless(MessagePublic.model_validate(found, from_attributes=True), False),
        chain=await chain_of(session, message_id),
        at_beijing=lambda moment: moment.astimezone(BEIJING).isoformat(timespec="seconds"),
        channel_labels=CHANNEL_LABELS,
        message_state_labels=MESSAGE_STATE_LABELS,
        outcome_labels=OUTCOME_LABELS,
        fallback_labels=FALLBACK_LABELS,
    )


@router.get("/templates", response_model=None)
async def message_templates(
    request: Request,
    kind: Annotated[str | None, Query(max_length=100)] = None,
    channel: Channel = Channel.sms,
) -> Response:
    """The message types and their templates per channel, one previewed with its sample data."""
    signed = await person_for(request, Role.admin)
    if not isinstance(signed, tuple):
        return signed
    shipped = shipped_templates()
    infos = [shipped.info(k) for k in shipped.kinds()]
    preview, error, status_code = None, None, 200
    if kind is not None:
        try:
            rendered = shipped.render(kind, channel, shipped.sample(kind))
            preview = {
                "kind": kind,
                "channel": channel,
                "source": shipped.source_of(kind, channel),
                "subject": rendered.subject,
                "body": rendered.body,
            }
        except HuodianError as exc:
            error, status_code = _message(exc), exc.status
    return render(
        templates,
        request,
        "templates.html",
        signed[1],
        status_code=status_code,
        infos=infos,
        preview=preview,
        error=error,
        channel_labels=CHANNEL_LABELS,
    )
