"""Subscribers (订阅用户): customers' contact points, preferences and supply location."""

from __future__ import annotations

import re
from datetime import date
from enum import StrEnum
from typing import Annotated

from pydantic import AfterValidator, EmailStr, StringConstraints, model_validator
from sqlalchemy import (
    Column,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlmodel import Field, SQLModel

from services.notify.db import NotifyTable
from shared.db import UTCDateTime, enum_column
from shared.pagination import Page
from shared.timeutil import BeijingTime
from shared.validation import Day
from shared.vocab import AreaClass, AreaClassed, mobile_field


class SubscriberSource(StrEnum):
    api = "api"
    intake = "intake"  # registered at 装表接电 by the intake service
    import_ = "import"


# Customer-facing message types a subscriber may opt out of (退订).
OUTAGE_KINDS = (
    "outage.announced",
    "outage.started",
    "outage.etr_changed",
    "outage.progress",
    "outage.restored",
    "outage.cancelled",
)


def _mobile(value: str | None) -> str | None:
    if value is None:
        return None
    return mobile_field(value)


def _webhook(value: str | None) -> str | None:
    if value is not None and not re.match(r"^https?://[^\s/]+", value):
        raise ValueError("not an http(s) URL")
    return value


Mobile = Annotated[str | None, AfterValidator(_mobile)]
Webhook = Annotated[str | None, StringConstraints(max_length=500), AfterValidator(_webhook)]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
Place = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]


CURRENT = "served_until IS NULL"


class Subscriber(NotifyTable, table=True):
    """A customer supplied from ``served_since`` (接电日期, the connection date) until
    ``served_until`` (销户日期: the first day no longer served; null while still served).

    Removing a subscriber ends its service rather than deleting the row, so the customers served
    (服务户数) of a past year stay what they were. An account number (户号) has at most one
    current row; a former one may be subscribed again as a new row (a new period of service).
    """

    __tablename__ = "subscribers"
    __table_args__ = (
        Index(
            "ux_subscribers_current_account",
            "account_number",
            unique=True,
            sqlite_where=text(CURRENT),
            postgresql_where=text(CURRENT),
        ),
        Index("ix_subscribers_served", "area_class", "served_since", "served_until"),
    )
    id: int | None = Field(default=None, primary_key=True)
    account_number: str = Field(sa_column=Column(String(64), nullable=False, index=True))
    name: str = Field(max_length=100)
    mobile: str | None = Field(default=None, max_length=20)
    email: str | None = Field(default=None, max_length=254)
    wecom_webhook: str | None = Field(default=None, max_length=500)
    dingtalk_webhook: str | None = Field(default=None, max_length=500)
    app_webhook: str | None = Field(default=None, max_length=500)
    feeder: str = Field(max_length=100, index=True)
    transformer_area: str = Field(max_length=100, index=True)
    area_class: AreaClass = Field(sa_column=enum_column(AreaClass, index=True))
    source: SubscriberSource = Field(sa_column=enum_column(SubscriberSource))
    served_since: date = Field(sa_column=Column(Date, nullable=False))
    served_until: date | None = Field(default=None, sa_column=Column(Date, nullable=True))
    created_at: BeijingTime = Field(sa_column=Column(UTCDateTime, nullable=False))
    updated_at: BeijingTime = Field(sa_column=Column(UTCDateTime, nullable=False))


class SubscriberOptOut(NotifyTable, table=True):
    """A message type the subscriber does not want (退订)."""

    __tablename__ = "subscriber_opt_outs"
    __table_args__ = (UniqueConstraint("subscriber_id", "kind"),)
    id: int | None = Field(default=None, primary_key=True)
    subscriber_id: int = Field(
        sa_column=Column(
            Integer, ForeignKey("subscribers.id", ondelete="CASCADE"), nullable=False, index=True
        )
    )
    kind: str = Field(max_length=64)


class SubscriberFields(SQLModel):
    """Contact points (联系方式: mobile for SMS, email, WeCom/DingTalk group robot, app push
    webhook) and supply location (供电位置): feeder/line (线路), transformer
    area (台区) and area class."""

    name: Name
    mobile: Mobile = None
    email: EmailStr | None = None
    wecom_webhook: Webhook = None
    dingtalk_webhook: Webhook = None
    app_webhook: Webhook = None
    feeder: Place
    transformer_area: Place
    area_class: AreaClass

    @model_validator(mode="after")
    def _reachable(self) -> SubscriberFields:
        contacts = (self.mobile, self.email, self.wecom_webhook, self.dingtalk_webhook)
        if not any(contacts) and not self.app_webhook:
            raise ValueError(
                "give at least one contact point: mobile, email, a robot or an app webhook"
            )
        return self


class SubscriberCreate(SubscriberFields):
    account_number: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)
    ]
    opt_outs: list[str] = Field(default=[], description="Message types not wanted (退订)")
    served_since: Day | None = Field(
        default=None, description="Connection date (接电日期); the day of creation if left out"
    )


class SubscriberUpdate(SQLModel):
    """Fields left out stay as they are."""

    name: Name | None = None
    mobile: Mobile = None
    email: EmailStr | None = None
    wecom_webhook: Webhook = None
    dingtalk_webhook: Webhook = None
    app_webhook: Webhook = None
    feeder: Place | None = None
    transformer_area: Place | None = None
    area_class: AreaClass | None = None
    served_since: Day | None = Field(default=None, description="Correct the connection date")


class Preferences(SQLModel):
    opt_outs: list[str] = Field(description="Message types not wanted (退订); [] for all")


class SubscriberPublic(AreaClassed):
    id: int
    account_number: str
    name: str
    mobile: str | None
    email: str | None
    wecom_webhook: str | None
    dingtalk_webhook: str | None
    app_webhook: str | None
    feeder: str
    transformer_area: str
    source: SubscriberSource
    opt_outs: list[str]
    served_since: date
    served_until: date | None
    created_at: BeijingTime
    updated_at: BeijingTime


class SubscriberPage(Page[SubscriberPublic]):
    """A page of subscribers (订阅用户)."""


class ImportState(StrEnum):
    running = "running"
    done = "done"
    failed = "failed"


class SubscriberImport(NotifyTable, table=True):
    """A bulk import of subscribers from CSV/XLSX (批量导入), with its progress."""

    __tablename__ = "subscriber_imports"
    id: int | None = Field(default=None, primary_key=True)
    filename: str = Field(max_length=255)
    state: ImportState = Field(default=ImportState.running, sa_column=enum_column(ImportState))
    rows_read: int = 0
    rows_imported: int = 0
    rows_failed: int = 0
    # The first row errors, as JSON [{"row", "field", "message"}]; rows_failed counts them all.
    errors: str = Field(default="[]", sa_column=Column(Text, nullable=False))
    error: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    created_by: str = Field(max_length=100)
    created_at: BeijingTime = Field(sa_column=Column(UTCDateTime, nullable=False))
    # Moved on every batch: an import that stopped moving was interrupted.
    progressed_at: BeijingTime = Field(sa_column=Column(UTCDateTime, nullable=False))
    finished_at: BeijingTime | None = Field(
        default=None, sa_column=Column(UTCDateTime, nullable=True)
    )


class RowError(SQLModel):
    row: int = Field(description="Row number in the file, header = 1")
    field: str
    message: str


class SubscriberImportPublic(SQLModel):
    id: int
    filename: str
    state: ImportState
    rows_read: int
    rows_imported: int
    rows_failed: int
    errors: list[RowError]
    error: str | None
    created_by: str
    created_at: BeijingTime
    finished_at: BeijingTime | None
