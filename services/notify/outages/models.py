"""Outages (停电): planned, temporary and fault; their scope, changes and impact."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import StringConstraints, model_validator
from sqlalchemy import Column, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from services.notify.db import NotifyTable
from shared.db import UTCDateTime, enum_column
from shared.masking import FREE_TEXT
from shared.pagination import Page
from shared.timeutil import BEIJING, BeijingTime
from shared.validation import Instant
from shared.vocab import AreaClass


class OutageKind(StrEnum):
    """planned 计划停电; temporary 临时停电; fault 故障停电 (urgent, pushed at any hour)."""

    planned = "planned"
    temporary = "temporary"
    fault = "fault"


KIND_LABELS = {
    OutageKind.planned: "计划停电",
    OutageKind.temporary: "临时停电",
    OutageKind.fault: "故障停电",
}


class OutageState(StrEnum):
    draft = "draft"  # 待发布: being prepared, not yet told to anyone
    announced = "announced"  # 已发布
    started = "started"  # 停电中
    restored = "restored"  # 已复电
    cancelled = "cancelled"  # 已取消


STATE_LABELS = {
    OutageState.draft: "待发布",
    OutageState.announced: "已发布",
    OutageState.started: "停电中",
    OutageState.restored: "已复电",
    OutageState.cancelled: "已取消",
}
CURRENT_STATES = (OutageState.draft, OutageState.announced, OutageState.started)


class OutageChange(StrEnum):
    """A change customers are told about; the message type is ``outage.<change>``."""

    announced = "announced"
    started = "started"
    etr_changed = "etr_changed"
    progress = "progress"
    restored = "restored"
    cancelled = "cancelled"


class ScopeKind(StrEnum):
    feeder = "feeder"  # 线路
    area = "area"  # 台区


class Outage(NotifyTable, table=True):
    __tablename__ = "outages"
    id: int | None = Field(default=None, primary_key=True)
    kind: OutageKind = Field(sa_column=enum_column(OutageKind))
    state: OutageState = Field(sa_column=enum_column(OutageState, index=True))
    cause: str = Field(max_length=300)
    planned_start: BeijingTime = Field(sa_column=Column(UTCDateTime, nullable=False))
    etr: BeijingTime = Field(sa_column=Column(UTCDateTime, nullable=False))
    actual_start: BeijingTime | None = Field(
        default=None, sa_column=Column(UTCDateTime, nullable=True)
    )
    actual_end: BeijingTime | None = Field(
        default=None, sa_column=Column(UTCDateTime, nullable=True)
    )
    late_notice: bool = False
    late_reason: str | None = Field(default=None, max_length=300)
    overlap_acknowledged: bool = False
    # The unit (单位) the outage belongs to: its dispatchers, and admins, may act on it. Null only
    # for outages drafted before outages had units (migration 0007): admins' until assigned.
    unit: str | None = Field(default=None, sa_column=Column(String(100), nullable=True, index=True))
    created_by: str = Field(max_length=100)
    created_at: BeijingTime = Field(sa_column=Column(UTCDateTime, nullable=False))
    announced_at: BeijingTime | None = Field(
        default=None, sa_column=Column(UTCDateTime, nullable=True)
    )


def number_of(outage: Outage) -> str:
    """The outage number (停电编号) people quote, e.g. TD202500012."""
    return f"TD{outage.planned_start.astimezone(BEIJING).year}{outage.id:05d}"


class OutageScope(NotifyTable, table=True):
    """A feeder (线路) or transformer area (台区) the outage cuts."""

    __tablename__ = "outage_scopes"
    __table_args__ = (
        UniqueConstraint("outage_id", "kind", "name"),
        Index("ix_outage_scopes_kind_name", "kind", "name"),
    )
    id: int | None = Field(default=None, primary_key=True)
    outage_id: int = Field(
        sa_column=Column(Integer, ForeignKey("outages.id", ondelete="CASCADE"), nullable=False)
    )
    kind: ScopeKind = Field(sa_column=enum_column(ScopeKind))
    name: str = Field(sa_column=Column(String(100), nullable=False))


class OutageUpdate(NotifyTable, table=True):
    """One change of an outage and how many messages it queued (变更记录)."""

    __tablename__ = "outage_updates"
    id: int | None = Field(default=None, primary_key=True)
    outage_id: int = Field(
        sa_column=Column(
            Integer, ForeignKey("outages.id", ondelete="CASCADE"), nullable=False, index=True
        )
    )
    change: OutageChange = Field(sa_column=enum_column(OutageChange))
    note: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    etr: BeijingTime | None = Field(default=None, sa_column=Column(UTCDateTime, nullable=True))
    at: BeijingTime = Field(sa_column=Column(UTCDateTime, nullable=False))
    by: str = Field(max_length=100)
    messages_queued: int = 0


class OutageImpact(NotifyTable, table=True):
    """Customers cut, per area class, counted when the outage started (停电影响户数)."""

    __tablename__ = "outage_impacts"
    __table_args__ = (UniqueConstraint("outage_id", "area_class"),)
    id: int | None = Field(default=None, primary_key=True)
    outage_id: int = Field(
        sa_column=Column(Integer, ForeignKey("outages.id", ondelete="CASCADE"), nullable=False)
    )
    area_class: AreaClass = Field(sa_column=enum_column(AreaClass))
    customers: int


# API shapes.


UnitName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]


class OutageCreate(SQLModel):
    kind: OutageKind
    unit: UnitName | None = Field(
        default=None,
        description="The unit (单位) the outage belongs to: one of the dispatcher's units, "
        "needed when they have several; an administrator always names it",
    )
    cause: str = Field(min_length=1, max_length=300, description="停电原因")
    feeders: list[str] = Field(default=[], description="Feeders/lines cut (线路)")
    transformer_areas: list[str] = Field(default=[], description="Transformer areas cut (台区)")
    planned_start: Instant = Field(description="Start; for a fault, when it happened")
    etr: Instant = Field(description="Expected restoration (预计复电时间)")
    restored_at: Instant | None = Field(
        default=None,
        description="Record a past outage (历史停电) for the reliability statistics: it started "
        "at planned_start and was restored at this moment; nobody is messaged",
    )

    @model_validator(mode="after")
    def _sane(self) -> OutageCreate:
        if not self.feeders and not self.transformer_areas:
            raise ValueError("name at least one feeder or transformer area")
        if self.etr <= self.planned_start:
            raise ValueError("the expected restoration must be after the start")
        if self.restored_at is not None and self.restored_at < self.planned_start:
            raise ValueError("power cannot be restored before the outage began")
        if any(not n.strip() or len(n) > 100 for n in self.feeders + self.transformer_areas):
            raise ValueError("feeder and area names are 1 to 100 characters")
        return self


class Announcement(SQLModel):
    acknowledge_overlap: bool = Field(
        default=False, description="Confirm despite customers cut recently (一停多用 warning)"
    )
    late_reason: str | None = Field(
        default=None,
        max_length=300,
        description="Why a planned outage is announced with short notice; flags it as late",
    )


class EtrChange(SQLModel):
    etr: Instant
    note: str | None = Field(default=None, max_length=500)


class ProgressNote(SQLModel):
    note: str = Field(min_length=1, max_length=500, description="抢修进度")


class Moment(SQLModel):
    at: Instant | None = Field(default=None, description="When; now if left out")


class UnitAssignment(SQLModel):
    unit: UnitName = Field(description="The unit (单位) the outage is handed to")


class Cancellation(SQLModel):
    reason: str = Field(min_length=1, max_length=300)


class OutageUpdatePublic(SQLModel):
    id: int
    change: OutageChange
    note: Annotated[str | None, FREE_TEXT]
    etr: BeijingTime | None
    at: BeijingTime
    by: str
    messages_queued: int


class OutagePublic(SQLModel):
    id: int
    number: str
    kind: OutageKind
    state: OutageState
    cause: str
    feeders: list[str]
    transformer_areas: list[str]
    planned_start: BeijingTime
    etr: BeijingTime
    actual_start: BeijingTime | None
    actual_end: BeijingTime | None
    late_notice: bool
    late_reason: Annotated[str | None, FREE_TEXT]
    overlap_acknowledged: bool
    unit: str | None
    created_by: str
    created_at: BeijingTime
    announced_at: BeijingTime | None
    customers_affected: int
    updates: list[OutageUpdatePublic]
    deliveries: dict[str, int] = Field(description="Messages of this outage by state")


class OverlapOutage(SQLModel):
    id: int
    number: str
    kind: OutageKind
    start: BeijingTime
    cause: str
    customers: int


class RepeatWarning(SQLModel):
    """一停多用 / 规避重复停电: customers this outage would cut who had (or will have) another
    outage within the window."""

    window_days: int
    customers_affected: int
    customers_recently_cut: int
    outages: list[OverlapOutage] = []


class OutagePage(Page[OutagePublic]):
    """A page of outages (停电列表)."""
