"""The health of a channel (渠道状态): the circuit breaker (熔断) the delivery worker keeps."""

from __future__ import annotations

from sqlalchemy import Column, String, Text
from sqlmodel import Field, SQLModel

from services.notify.db import NotifyTable
from services.notify.messages.models import Channel
from shared.db import UTCDateTime
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
