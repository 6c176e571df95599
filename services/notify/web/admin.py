"""The notify administrator's pages (通知管理): the queue by channel and state, the channels'
health (熔断) and the dead letters with resend (死信重发); one message with its chain of attempts
(投递链); the message templates with a preview (模板预览)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, BackgroundTasks, Form, Query, Request, Response
from fastapi.responses import RedirectResponse
from pydantic import TypeAdapter

from services.notify.delivery.fallbacks import chain_of
from services.notify.delivery.service import channel_health
from services.notify.messages import service as messages
from services.notify.messages.models import Channel, MessageFilter, MessagePublic, MessageState
from services.notify.messages.service import delivery_counts
from services.notify.templates.service import templates as shipped_templates
from services.notify.web.pages import (
    CHANNEL_LABELS,
    MESSAGE_STATE_LABELS,
    count_table,
    error_text,
    refused,
    submit_page_form,
    templates,
)
from shared.app import Session
from shared.auth import Role
from shared.calendar import BEIJING
from shared.clock import Now
from shared.errors import HuodianError
from shared.masking import masked_unless
from shared.pagination import PageParams
from shared.validation import Id
from shared.web.navigation import own_base
from shared.web.pages import PageForm, Person, Refusal, person_for, render

router = APIRouter(prefix="/ui", include_in_schema=False)


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
        **count_table(await delivery_counts(session)),
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


class ResendForm(PageForm):
    """Re-send one dead letter (its id), or all of them (none)."""

    message_id: str = ""


MESSAGE_ID = TypeAdapter(Id)


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

    return await submit_page_form(request, person, posted, act, refused)


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
        return refused(request, person, exc, heading="无法打开此消息")
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
            error, status_code = error_text(exc), exc.status
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
