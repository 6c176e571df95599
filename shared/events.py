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

from shared.keyring import Keyring
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


def _query_code_purpose(application_number: str) -> str:
    # Bound to the application: a sealed code copied into another event does not open there.
    return f"receipt-query-code:{application_number}"


def seal_query_code(keyring: Keyring, application_number: str, code: str) -> str:
    """The applicant's query code (查询码) as an event carries it: sealed with the deployment's
    keyring (the same file for every service), so neither intake's outbox nor the wire nor
    notify's record of received events holds it in plain; only the message text does."""
    return keyring.seal(_query_code_purpose(application_number), code)


def open_query_code(keyring: Keyring, application_number: str, sealed: str) -> str:
    """The code :func:`seal_query_code` sealed; ``KeyringError`` if it does not open."""
    return keyring.open(_query_code_purpose(application_number), sealed)
