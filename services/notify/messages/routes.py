"""The message queue over HTTP: listing, dead letters and re-sending (消息记录与重发)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request

from services.notify.delivery.fallbacks import MessageDetail, chain_of
from services.notify.delivery.models import ChannelHealthPublic
from services.notify.delivery.service import channel_health
from services.notify.delivery.worker import DeliveryRound, deliver_due
from services.notify.deps import CurrentOperator
from services.notify.messages import service
from services.notify.messages.models import (
    Channel,
    MessageFilter,
    MessagePage,
    MessagePublic,
    MessageState,
    ResendResult,
)
from shared.app import Session
from shared.clock import Now
from shared.masking import masked_unless
from shared.pagination import Paging
from shared.validation import Id

router = APIRouter(tags=["messages"])


@router.get("/messages", summary="Queued, sent, failed and dead messages (消息记录)")
async def messages(
    operator: CurrentOperator,
    session: Session,
    where: Annotated[MessageFilter, Query()],
    paging: Paging,
) -> MessagePage:
    return masked_unless(
        await service.list_messages(session, where, paging),
        operator.is_service,
    )


@router.get("/messages/dead", summary="Dead letters: messages that could not be sent (死信)")
async def dead_letters(
    operator: CurrentOperator,
    session: Session,
    paging: Paging,
    kind: str | None = None,
    channel: Channel | None = None,
) -> MessagePage:
    where = MessageFilter(state=MessageState.dead, kind=kind, channel=channel)
    return masked_unless(
        await service.list_messages(session, where, paging),
        operator.is_service,
    )


@router.post("/messages/dead/resend", summary="Re-send every dead letter of a kind (批量重发)")
async def resend_dead(
    _operator: CurrentOperator,
    session: Session,
    now: Now,
    kind: str | None = None,
    channel: Channel | None = None,
) -> ResendResult:
    return await service.resend_dead(session, kind=kind, channel=channel, now=now)


@router.get(
    "/messages/{message_id}",
    summary="One message, its attempts, receipts and fallbacks (消息详情与投递链)",
)
async def message(operator: CurrentOperator, session: Session, message_id: Id) -> MessageDetail:
    found = await service.get_message(session, message_id)
    detail = MessageDetail.model_validate(
        {
            **MessagePublic.model_validate(found, from_attributes=True).model_dump(),
            "chain": await chain_of(session, message_id),
        }
    )
    return masked_unless(detail, operator.is_service)


@router.post("/messages/{message_id}/resend", summary="Re-send a dead or failed message (重发)")
async def resend(
    operator: CurrentOperator, session: Session, message_id: Id, now: Now
) -> MessagePublic:
    found = await service.resend(session, message_id, now=now)
    return masked_unless(
        MessagePublic.model_validate(found, from_attributes=True), operator.is_service
    )


@router.post("/delivery/run", summary="Deliver due messages now, one round (立即投递)")
async def run_delivery(_operator: CurrentOperator, request: Request, now: Now) -> DeliveryRound:
    state = request.app.state
    return await deliver_due(
        state.engine,
        state.delivery_engine,
        state.channels,
        state.notify_settings,
        state.delivery_hours,
        now=now,
    )


@router.get("/delivery/channels", summary="Each channel: down or up, messages waiting (渠道状态)")
async def channels(
    _operator: CurrentOperator, session: Session, request: Request
) -> list[ChannelHealthPublic]:
    return await channel_health(session, request.app.state.channels.senders.keys())
