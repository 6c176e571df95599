"""Events one Huodian service tells another (事件), e.g. intake's warnings to notify.

The sender stores each event in its own outbox in the same transaction as the change that caused
it, and delivers it afterwards with retries (``POST /events`` on the receiver, service token).
The receiver keeps every event id it has handled, so a redelivery changes nothing: exactly once
from the receiver's point of view.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from pydantic import BaseModel, Field

from shared.settings import ServiceName
from shared.timeutil import BeijingTime
from shared.validation import Instant


class Event(BaseModel):
    id: UUID = Field(description="Unique per event; the receiver's deduplication key")
    type: str = Field(
        min_length=3,
        max_length=100,
        pattern=r"^[a-z_]+(\.[a-z_]+)+$",
        description="Dotted name, e.g. intake.stage.overdue",
    )
    source: ServiceName
    occurred_at: Instant
    subject: str = Field(max_length=200, description="What it is about, e.g. an application number")
    data: dict[str, Any] = Field(default_factory=dict)


class EventReceipt(BaseModel):
    """The receiver's answer: ``duplicate`` is true when the id had been handled before."""

    id: UUID
    duplicate: bool
    received_at: BeijingTime
