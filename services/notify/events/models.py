"""Events received from other services (已接收事件): each id is handled exactly once."""

from __future__ import annotations

from datetime import date
from typing import Any
from uuid import UUID

from pydantic import BaseModel
from sqlalchemy import Column, Text, Uuid
from sqlmodel import Field, SQLModel

from services.notify.db import NotifyTable
from services.notify.subscribers.models import Mobile, Name, Place
from shared.db import UTCDateTime
from shared.timeutil import BeijingTime
from shared.vocab import AreaClass, CustomerTyped


class ReceivedEvent(NotifyTable, table=True):
    __tablename__ = "received_events"
    id: UUID = Field(sa_column=Column(Uuid, primary_key=True))
    type: str = Field(max_length=100, index=True)
    source: str = Field(max_length=32)
    subject: str = Field(max_length=200)
    occurred_at: BeijingTime = Field(sa_column=Column(UTCDateTime, nullable=False))
    received_at: BeijingTime = Field(sa_column=Column(UTCDateTime, nullable=False))
    outcome: str = Field(default="", sa_column=Column(Text, nullable=False))


class StageEventData(CustomerTyped):
    """``data`` of intake.stage.at_risk / intake.stage.overdue / intake.escalation.opened; the
    notices read ``customer_type_label``."""

    application_number: str = Field(min_length=1, max_length=64)
    stage: str = Field(min_length=1, max_length=100)
    unit: str = Field(min_length=1, max_length=200)
    due_date: date
    clerk: str = Field(min_length=1, max_length=64, description="The clerk's username")
    supervising_unit: str = Field(min_length=1, max_length=200)


class DueChangedEventData(CustomerTyped):
    """``data`` of intake.application.due_changed: a calendar change moved a live deadline
    (节假日调整). Staff and the applicant are told old and new, in Chinese dates."""

    application_number: str = Field(min_length=1, max_length=64)
    unit: str = Field(min_length=1, max_length=200)
    clerk: str = Field(min_length=1, max_length=64, description="The clerk's username")
    applicant_name: Name
    mobile: Mobile = None
    email: str | None = Field(default=None, max_length=254)
    stage: str = Field(min_length=1, max_length=100)
    old_due: date
    new_due: date
    old_due_text: str = Field(min_length=1, max_length=20)
    new_due_text: str = Field(min_length=1, max_length=20)
    provisional: bool
    calendar_year: int
    calendar_source: str = Field(min_length=1, max_length=300)
    cleared: list[str] = Field(default_factory=list)


class SubmittedEventData(CustomerTyped):
    """``data`` of intake.portal.submitted (网上申请待受理): an application the portal filed; the
    accepting unit's clerks are told. It names no applicant: a clerk's email needs neither the
    name nor the mobile. Its own event, so that the applicant's receipt never waits for ledger's
    directory (a clerk is resolved there)."""

    application_number: str = Field(min_length=1, max_length=64)
    unit: str = Field(min_length=1, max_length=200)
    channel: str = Field(min_length=1, max_length=32)
    accepted_on_text: str = Field(min_length=1, max_length=20)
    staged: bool
    stage: str | None = Field(default=None, max_length=100)
    due_date: date | None = None
    due_text: str | None = Field(default=None, max_length=20)
    due_provisional: bool = False


class ReceivedEventData(SubmittedEventData):
    """``data`` of intake.application.received (受理回执): the applicant is texted the number,
    the query code (sealed by intake, opened here) and the due date, 预测 when provisional."""

    applicant_name: Name
    mobile: Mobile
    query_code_sealed: str | None = Field(default=None, max_length=500)
    # True from an intake that tells a portal application's clerks by intake.portal.submitted;
    # absent (an older intake, or an event queued before its upgrade): notify tells them here.
    clerks_told_apart: bool = False


class ConnectedEventData(SQLModel):
    """``data`` of intake.application.connected (装表接电): the new customer to subscribe."""

    application_number: str = Field(min_length=1, max_length=64)
    name: Name
    mobile: Mobile
    email: str | None = None
    feeder: Place
    transformer_area: Place
    area_class: AreaClass


class EventOutcome(SQLModel):
    """What notify did with an event."""

    messages_queued: int = 0
    unresolved: list[str] = []
    subscriber_id: int | None = None
    recorded: dict[str, Any] | None = None


class RecordedEvent(BaseModel):
    """A kept event and its data (e.g. the copy of intake's last checkpoint)."""

    id: UUID
    type: str
    subject: str
    occurred_at: BeijingTime
    received_at: BeijingTime
    data: dict[str, Any]
