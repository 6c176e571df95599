"""Outgoing messages (消息): one row per (event, recipient, channel), deduplicated by key."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import Column, Index, String, Text
from sqlmodel import Field, SQLModel

from services.notify.db import NotifyTable
from shared.db import UTCDateTime, enum_column, utcnow


class MessageState(StrEnum):
    queued = "queued"
    sent = "sent"
    failed = "failed"
    dead = "dead"


class Channel(StrEnum):
    email = "email"
    sms = "sms"
    wecom = "wecom"
    webhook = "webhook"


class Message(NotifyTable, table=True):
    __tablename__ = "messages"
    __table_args__ = (Index("ix_messages_state_due", "state", "next_attempt_at"),)
    id: int | None = Field(default=None, primary_key=True)
    dedup_key: str = Field(sa_column=Column(String(200), nullable=False, unique=True))
    kind: str = Field(max_length=64)
    channel: Channel = Field(sa_column=enum_column(Channel))
    recipient: str = Field(max_length=254)
    subject: str = Field(max_length=300)
    body: str = Field(sa_column=Column(Text, nullable=False))
    state: MessageState = Field(default=MessageState.queued, sa_column=enum_column(MessageState))
    attempts: int = 0
    last_error: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False)
    )
    next_attempt_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False)
    )
    sent_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime, nullable=True))


class MessagePublic(SQLModel):
    id: int
    dedup_key: str
    kind: str
    channel: Channel
    recipient: str
    subject: str
    body: str
    state: MessageState
    attempts: int
    last_error: str | None
    created_at: datetime
    sent_at: datetime | None
