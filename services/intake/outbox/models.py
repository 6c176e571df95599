"""The transactional outbox (发件箱): events for notify, written with the change that caused them.

A row is stored in the same transaction as the change, so an event exists if and only if the
change does; delivery happens afterwards and is retried until notify has taken it. Notify keeps
the event ids it handled, so a redelivery after a lost answer is a harmless duplicate.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any
from uuid import UUID

from pydantic import BaseModel
from sqlalchemy import JSON, Column, Index, String, Text, Uuid
from sqlmodel import Field

from services.intake.db import IntakeTable
from shared.db import UTCDateTime, enum_column
from shared.logs import current_request_id
from shared.pagination import Page
from shared.timeutil import BeijingTime


class OutboxState(StrEnum):
    """待投递 / 已投递."""

    pending = "pending"
    delivered = "delivered"


class EventType(StrEnum):
    """What intake tells notify."""

    stage_at_risk = "intake.stage.at_risk"
    stage_overdue = "intake.stage.overdue"
    escalation_opened = "intake.escalation.opened"
    application_received = "intake.application.received"
    # A portal application, for the accepting unit's clerks (网上申请待受理): its own event, so
    # that the applicant's receipt does not wait while notify cannot resolve a clerk.
    portal_submitted = "intake.portal.submitted"
    application_connected = "intake.application.connected"
    due_changed = "intake.application.due_changed"
    log_checkpoint = "intake.log.checkpoint"
    log_verify_failed = "intake.log.verify_failed"


class OutboxEvent(IntakeTable, table=True):
    __tablename__ = "outbox_events"
    __table_args__ = (Index("ix_outbox_events_state_due", "state", "next_attempt_at", "id"),)
    id: int | None = Field(default=None, primary_key=True)
    event_id: UUID = Field(sa_column=Column(Uuid, nullable=False, unique=True))
    type: EventType = Field(sa_column=enum_column(EventType))
    subject: str = Field(max_length=200)
    occurred_at: BeijingTime = Field(sa_column=Column(UTCDateTime, nullable=False))
    data: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    state: OutboxState = Field(sa_column=enum_column(OutboxState))
    attempts: int = 0
    next_attempt_at: BeijingTime = Field(sa_column=Column(UTCDateTime, nullable=False))
    last_error: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    delivered_at: BeijingTime | None = Field(
        default=None, sa_column=Column(UTCDateTime, nullable=True)
    )
    duplicate: bool | None = Field(
        default=None, description="notify's answer: it had handled the id before"
    )
    # The request id (请求号) of the transaction that queued the event, sent with it to notify
    # as X-Request-Id (shared.logs); none for events that jobs queued outside a request.
    request_id: str | None = Field(
        default_factory=current_request_id, sa_column=Column(String(64), nullable=True)
    )


class OutboxEventPublic(BaseModel):
    """An outbox row as administrators see it: the event's data is not shown (personal data)."""

    id: int
    event_id: UUID
    type: EventType
    subject: str
    occurred_at: BeijingTime
    state: OutboxState
    attempts: int
    next_attempt_at: BeijingTime
    last_error: str | None
    delivered_at: BeijingTime | None
    duplicate: bool | None


class OutboxPage(Page[OutboxEventPublic]):
    """A page of outbox events (事件发件箱)."""


class DeliveryRun(BaseModel):
    """One pass of the delivery: what was posted to notify and what waits for a retry."""

    delivered: int = 0
    failed: int = 0
