"""The health of a channel (渠道状态): the circuit breaker (熔断) the delivery worker keeps."""

from __future__ import annotations

from enum import StrEnum

from sqlalchemy import Column, Integer, String, Text
from sqlmodel import Field, SQLModel

from services.notify.db import NotifyTable
from services.notify.messages.models import Channel
from shared.db import UTCDateTime, enum_column
from shared.timeutil import BeijingTime


class ChannelHealth(NotifyTable, table=True):
    """A channel whose server failed (the SMTP server, the SMS gateway) is down from
    ``down_since`` until a probe (试探发送) succeeds; probes are spaced by the retry backoff.
    No row, or ``down_since`` empty: the channel is up."""

    __tablename__ = "channel_health"
    channel: str = Field(sa_column=Column(String(32), primary_key=True))
    down_since: BeijingTime | None = Field(
        default=None, sa_column=Column(UTCDateTime, nullable=True)
    )
    failures: int = 0
    next_probe_at: BeijingTime | None = Field(
        default=None, sa_column=Column(UTCDateTime, nullable=True)
    )
    last_error: str | None = Field(default=None, sa_column=Column(Text, nullable=True))


class ChannelHealthPublic(SQLModel):
    channel: Channel
    configured: bool
    down: bool
    down_since: BeijingTime | None
    failures: int
    next_probe_at: BeijingTime | None
    last_error: str | None
    waiting: int = Field(description="Messages of the channel waiting to be sent")
    possible_duplicates: int = Field(
        description="可能重复: messages of the channel claimed again after an attempt that may "
        "have reached the far end was cut off (``possible_duplicate`` on the message)"
    )


class AttemptOutcome(StrEnum):
    """sent 已发送; failed 失败待重试; dead 死信 (the message's own final failure); held 渠道故障,
    the attempt given back while the channel is down (the circuit breaker holds the message)."""

    sent = "sent"
    failed = "failed"
    dead = "dead"
    held = "held"


class FallbackNote(StrEnum):
    """What a dead letter's fallback (备用渠道) came to: queued a new message; existing: the
    recipient already has this event's message on that channel (it is the one linked); no_rule:
    no fallback is set for the type and channel; no_address: the recipient has no (valid)
    address on the fallback channel."""

    queued = "queued"
    existing = "existing"
    no_rule = "no_rule"
    no_address = "no_address"


class DeliveryAttempt(NotifyTable, table=True):
    """One attempt to send a message (投递尝试) and the provider's receipt (回执)."""

    __tablename__ = "delivery_attempts"
    id: int | None = Field(default=None, primary_key=True)
    message_id: int = Field(sa_column=Column(Integer, nullable=False, index=True))
    attempt: int = Field(description="The message's attempt number (a held one is given back)")
    channel: Channel = Field(sa_column=enum_column(Channel))
    attempted_at: BeijingTime = Field(sa_column=Column(UTCDateTime, nullable=False))
    outcome: AttemptOutcome = Field(sa_column=enum_column(AttemptOutcome))
    receipt: str | None = Field(default=None, max_length=200)
    provider_code: str | None = Field(default=None, max_length=200)
    error: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    fallback: FallbackNote | None = Field(
        default=None, sa_column=enum_column(FallbackNote, nullable=True)
    )
    fallback_message_id: int | None = Field(
        default=None, sa_column=Column(Integer, nullable=True, index=True)
    )


class FallbackRule(NotifyTable, table=True):
    """备用渠道: when a message of ``kind`` on ``channel`` becomes a dead letter, the same
    recipient is sent it on ``fallback``. Set by an administrator."""

    __tablename__ = "fallback_channels"
    kind: str = Field(sa_column=Column(String(64), primary_key=True))
    channel: str = Field(sa_column=Column(String(32), primary_key=True))
    fallback: str = Field(sa_column=Column(String(32), nullable=False))
    updated_at: BeijingTime = Field(sa_column=Column(UTCDateTime, nullable=False))
    updated_by: str = Field(max_length=100)
