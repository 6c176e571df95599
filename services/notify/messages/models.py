"""Outgoing messages (消息): one row per (event, recipient, channel), deduplicated by key."""

from __future__ import annotations

from enum import StrEnum

from sqlalchemy import Boolean, Column, Index, Integer, String, Text, false
from sqlmodel import Field, SQLModel

from services.notify.db import NotifyTable
from shared.db import UTCDateTime, enum_column
from shared.logs import current_request_id
from shared.masking import FreeText
from shared.pagination import Page
from shared.timeutil import BeijingTime
from shared.validation import Id


class MessageState(StrEnum):
    """queued 待发送; sending 发送中 (a worker holds it until ``next_attempt_at``, its lease);
    sent 已发送; failed 发送失败, retried later; dead 死信: refused for good, its own attempts
    exhausted, or nobody to send to; superseded 已取代: a later change of the same outage
    replaced it before it went out (never sent)."""

    queued = "queued"
    sending = "sending"
    sent = "sent"
    failed = "failed"
    dead = "dead"
    superseded = "superseded"


class Channel(StrEnum):
    """email 邮件; sms 短信; wecom 企业微信群机器人; dingtalk 钉钉群机器人; webhook 通用回调
    (an app's push endpoint)."""

    email = "email"
    sms = "sms"
    wecom = "wecom"
    dingtalk = "dingtalk"
    webhook = "webhook"


class DeliveryWindow(StrEnum):
    """When a message may go out (发送时段), in Beijing time.

    anytime: urgent (fault outages, 故障停电); waking_hours: not in quiet hours (免打扰);
    working_hours: staff reminders, on working days in office hours.
    """

    anytime = "anytime"
    waking_hours = "waking_hours"
    working_hours = "working_hours"


class Message(NotifyTable, table=True):
    __tablename__ = "messages"
    __table_args__ = (
        Index("ix_messages_state_due", "state", "next_attempt_at"),
        Index("ix_messages_channel_attempted", "channel", "last_attempt_at"),
    )
    id: int | None = Field(default=None, primary_key=True)
    dedup_key: str = Field(sa_column=Column(String(200), nullable=False, unique=True))
    kind: str = Field(max_length=64)
    channel: Channel = Field(sa_column=enum_column(Channel))
    recipient: str = Field(max_length=254)
    subject: str = Field(max_length=300)
    body: str = Field(sa_column=Column(Text, nullable=False))
    state: MessageState = Field(default=MessageState.queued, sa_column=enum_column(MessageState))
    window: DeliveryWindow = Field(
        default=DeliveryWindow.waking_hours, sa_column=enum_column(DeliveryWindow)
    )
    attempts: int = 0
    last_error: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    # The delivery log (投递记录) per subscriber and per outage.
    subscriber_id: int | None = Field(
        default=None, sa_column=Column(Integer, nullable=True, index=True)
    )
    outage_id: int | None = Field(
        default=None, sa_column=Column(Integer, nullable=True, index=True)
    )
    created_at: BeijingTime = Field(sa_column=Column(UTCDateTime, nullable=False))
    next_attempt_at: BeijingTime = Field(sa_column=Column(UTCDateTime, nullable=False))
    last_attempt_at: BeijingTime | None = Field(
        default=None, sa_column=Column(UTCDateTime, nullable=True)
    )
    sent_at: BeijingTime | None = Field(default=None, sa_column=Column(UTCDateTime, nullable=True))
    # The provider's receipt of the attempt that sent it (回执: SMS biz_id, SMTP queue id…).
    receipt: str | None = Field(default=None, max_length=200)
    # 可能重复: claimed again after a lease ran out while it was ``sending``, so the far end may
    # already hold a copy from the attempt that started at ``earlier_attempt_at``.
    possible_duplicate: bool = Field(
        default=False, sa_column=Column(Boolean, nullable=False, server_default=false())
    )
    earlier_attempt_at: BeijingTime | None = Field(
        default=None, sa_column=Column(UTCDateTime, nullable=True)
    )
    # The data (JSON) the fan-out rendered it from, so that a fallback can be rendered with its
    # own channel's template; none for messages rendered elsewhere.
    template_data: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    # The request id (请求号) under which the message was made: of intake's request that queued
    # the event, or of the call that queued it here (shared.logs). The delivery worker logs
    # each send with it. The column default covers the Core inserts too.
    request_id: str | None = Field(
        default_factory=current_request_id,
        sa_column=Column(String(64), nullable=True, default=current_request_id),
    )


class MessagePublic(SQLModel):
    id: int
    dedup_key: str
    kind: str
    channel: Channel
    recipient: str
    subject: FreeText
    body: FreeText = Field(
        description="ID numbers and phones typed into it (an outage's notes) and a receipt's "
        "query code (查询码) are masked for administrators; Huodian's services get it whole"
    )
    state: MessageState
    window: DeliveryWindow
    attempts: int
    last_error: str | None
    subscriber_id: int | None
    outage_id: int | None
    created_at: BeijingTime
    next_attempt_at: BeijingTime
    sent_at: BeijingTime | None
    receipt: str | None = Field(
        default=None,
        description="The provider's receipt of the sending attempt: the SMS gateway's biz_id, "
        "the SMTP queue id (or Message-ID), a robot's msgid; every attempt's is in "
        "GET /messages/{id}",
    )
    possible_duplicate: bool = Field(
        description="可能重复: an earlier attempt was cut off (the worker died or its lease ran "
        "out) after it may have reached the far end, so the recipient may hold two copies, "
        "both with this message's Message-ID / idempotency key"
    )
    earlier_attempt_at: BeijingTime | None = Field(
        description="When the latest such cut-off attempt started"
    )
    request_id: str | None = Field(
        default=None,
        description="请求号: the request id under which the message was made (intake's request "
        "that queued its event, or a scheduled job's run), on every log line about it",
    )


class MessageFilter(SQLModel):
    state: MessageState | None = None
    kind: str | None = None
    channel: Channel | None = None
    recipient: str | None = None
    subscriber_id: Id | None = None
    outage_id: Id | None = None
    possible_duplicate: bool | None = None


class MessagePage(Page[MessagePublic]):
    """A page of messages (消息记录)."""


class ResendResult(SQLModel):
    requeued: int
