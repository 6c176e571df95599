"""Ledgers (任务台账), their items (工作目标任务) and responsible units (责任单位): the tables and
the shapes the API returns (items, dashboards, the 通报 ranking, the deadline feed)."""

from __future__ import annotations

from datetime import date

from sqlalchemy import Column, Index, Integer, String, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from services.ledger.db import LedgerTable
from services.ledger.escalations.models import (
    DEFAULT_ESCALATE_AFTER_DAYS,
    DEFAULT_STALE_AFTER_DAYS,
    EscalationPublic,
)
from services.ledger.ledgers.parsing import DueKind, ResponsibilityRole
from services.ledger.updates.models import StatusUpdatePublic, TaskStatus
from shared.db import UTCDateTime, enum_column
from shared.pagination import Page
from shared.timeutil import BeijingTime


class Unit(LedgerTable, table=True):
    """A responsible unit (责任单位), e.g. 各供电企业 or 营销部."""

    __tablename__ = "units"
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(sa_column=Column(String(100), nullable=False, unique=True))


class Ledger(LedgerTable, table=True):
    """A task ledger (任务台账): one plan's list of items."""

    __tablename__ = "ledgers"
    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(sa_column=Column(String(64), nullable=False, unique=True))
    name: str = Field(max_length=200)
    issuer: str = Field(default="", max_length=200)
    document_no: str = Field(default="", max_length=100)
    source: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    plan_end: date | None = None
    created_at: BeijingTime = Field(sa_column=Column(UTCDateTime, nullable=False))
    # An archived ledger (已归档) keeps its items and history but leaves the lists, the
    # dashboards, the ranking and the reminders; its items take no more updates.
    archived_at: BeijingTime | None = Field(
        default=None, sa_column=Column(UTCDateTime, nullable=True)
    )
    archived_by: str | None = Field(default=None, max_length=64)
    archive_reason: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    # Stale-update escalation (更新超期督办), in working days: an item with no status post for
    # ``stale_after_days`` goes to its units' heads, ``escalate_after_days`` later to the
    # supervising leaders (services.ledger.escalations).
    stale_after_days: int = Field(
        default=DEFAULT_STALE_AFTER_DAYS,
        sa_column=Column(Integer, nullable=False, default=DEFAULT_STALE_AFTER_DAYS),
    )
    escalate_after_days: int = Field(
        default=DEFAULT_ESCALATE_AFTER_DAYS,
        sa_column=Column(Integer, nullable=False, default=DEFAULT_ESCALATE_AFTER_DAYS),
    )


class Item(LedgerTable, table=True):
    """One row of a ledger: 序号, 分类, 工作目标任务, 责任单位, 完成时间 and its parsed due."""

    __tablename__ = "items"
    __table_args__ = (
        UniqueConstraint("ledger_id", "seq", name="uq_items_ledger_seq"),
        Index("ix_items_due_date", "due_date"),
    )
    id: int | None = Field(default=None, primary_key=True)
    ledger_id: int = Field(foreign_key="ledgers.id", index=True)
    seq: int
    category: str = Field(max_length=100)
    task: str = Field(sa_column=Column(Text, nullable=False))
    responsible_text: str = Field(sa_column=Column(Text, nullable=False))
    due_text: str = Field(max_length=200)
    due_kind: DueKind = Field(sa_column=enum_column(DueKind))
    due_date: date | None = None


class ItemUnit(LedgerTable, table=True):
    """Which unit answers for an item, and whether it leads (牵头) or supports."""

    __tablename__ = "item_units"
    item_id: int = Field(foreign_key="items.id", primary_key=True)
    unit_id: int = Field(foreign_key="units.id", primary_key=True, index=True)
    role: ResponsibilityRole = Field(sa_column=enum_column(ResponsibilityRole))
    position: int = 0


class UnitPublic(SQLModel):
    id: int
    name: str


class ResponsibleUnit(SQLModel):
    id: int
    name: str
    role: ResponsibilityRole


class LedgerPublic(SQLModel):
    id: int
    code: str
    name: str
    issuer: str
    document_no: str
    source: str
    plan_end: date | None
    item_count: int
    archived_at: BeijingTime | None = None
    archived_by: str | None = None
    archive_reason: str = ""
    stale_after_days: int = DEFAULT_STALE_AFTER_DAYS
    escalate_after_days: int = DEFAULT_ESCALATE_AFTER_DAYS


class LedgerArchive(SQLModel):
    """Why a ledger is archived (归档原因), e.g. 误导入."""

    reason: str = Field(min_length=1, max_length=500)


class ItemPublic(SQLModel):
    """An item as shown to users, with its derived state (状态、是否逾期)."""

    id: int
    ledger_code: str
    seq: int
    category: str
    task: str
    responsible_text: str
    units: list[ResponsibleUnit]
    due_text: str
    due_kind: DueKind
    due_date: date | None
    status: TaskStatus
    status_label: str
    progress: int
    latest_narrative: str | None
    last_update_at: BeijingTime | None
    overdue: bool
    due_soon: bool
    days_overdue: int | None


class ItemPage(Page[ItemPublic]):
    """A page of ledger items (台账事项)."""


class ItemDetail(ItemPublic):
    """One item with its whole history (事项详情)."""

    history: list[StatusUpdatePublic]
    escalations: list[EscalationPublic]


class StatusCount(SQLModel):
    status: TaskStatus
    status_label: str
    count: int


class UnitDashboard(SQLModel):
    """A unit's page (单位看板): its items by status and what is overdue."""

    unit_id: int
    unit: str
    as_of: date
    total: int
    by_status: list[StatusCount]
    overdue_count: int
    due_soon_count: int
    overdue: list[ItemPublic]


class UnitStanding(SQLModel):
    """A unit's line in the 通报: how many of its items are overdue or stale (久未更新)."""

    rank: int
    unit_id: int
    unit: str
    items: int
    overdue: int
    stale: int


class FeedRecipient(SQLModel):
    username: str
    display_name: str
    email: str


class FeedUnit(SQLModel):
    """A unit answering for the item, and whom to remind for it: its own department heads, or,
    when it has none, those of its nearest ancestor that has (``heads_of`` names that unit; it
    is ``name`` itself when the unit has heads, and when no ancestor has any either)."""

    id: int
    name: str
    role: ResponsibilityRole
    heads: list[FeedRecipient]
    heads_of: str


class DeadlineFeedEntry(SQLModel):
    item_id: int
    ledger_code: str
    seq: int
    task: str
    due_text: str
    due_date: date
    status: TaskStatus
    status_label: str
    overdue: bool
    days_left: int
    units: list[FeedUnit]


class DeadlineFeed(SQLModel):
    """Items due within N days or overdue (临期及逾期事项), with whom to remind."""

    as_of: date
    within_days: int
    entries: list[DeadlineFeedEntry]
