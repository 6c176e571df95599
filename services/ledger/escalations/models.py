"""Stale-update escalation (更新超期督办): an item with no status post for N working days is
escalated to its units' heads, and M working days later to the supervising leaders.

Each step is a row: which item, which level, the stale period it belongs to (the day of the last
post), to whom it went and what came of it. The unique key (item, level, period) makes a step
happen once per stale period, however often the run is repeated.
"""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Column, Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from services.ledger.db import LedgerTable
from shared.db import UTCDateTime, enum_column
from shared.timeutil import BeijingTime

DEFAULT_STALE_AFTER_DAYS = 10
"""N: working days without a status post before an item is stale (两周无进展即超期)."""
DEFAULT_ESCALATE_AFTER_DAYS = 5
"""M: further working days before the supervising leader is told."""


class EscalationLevel(StrEnum):
    """部门负责人 (heads of the item's units), then 督办领导 (supervisors of its lead units)."""

    unit_head = "unit_head"
    supervisor = "supervisor"


LEVEL_LABELS: dict[EscalationLevel, str] = {
    EscalationLevel.unit_head: "提醒责任单位负责人",
    EscalationLevel.supervisor: "升级至督办领导",
}


class EscalationOutcome(StrEnum):
    """Whether every unit of the step had someone to tell (an unresolved unit is an error)."""

    notified = "notified"
    partly_unresolved = "partly_unresolved"
    unresolved = "unresolved"


OUTCOME_LABELS: dict[EscalationOutcome, str] = {
    EscalationOutcome.notified: "已通知",
    EscalationOutcome.partly_unresolved: "部分单位无人可通知",
    EscalationOutcome.unresolved: "无人可通知",
}


class StaleEscalation(LedgerTable, table=True):
    """One escalation step (督办记录) of one item in one stale period."""

    __tablename__ = "stale_escalations"
    __table_args__ = (
        UniqueConstraint("item_id", "level", "period_start", name="uq_stale_escalations_step"),
        Index("ix_stale_escalations_fired_on", "fired_on"),
    )
    id: int | None = Field(default=None, primary_key=True)
    item_id: int = Field(foreign_key="items.id", index=True)
    level: EscalationLevel = Field(sa_column=enum_column(EscalationLevel))
    # The Beijing day of the last status post (or of the ledger's loading) that the stale period
    # is counted from; a new post starts a new period.
    period_start: date
    due_on: date
    fired_on: date
    recorded_at: BeijingTime = Field(sa_column=Column(UTCDateTime, nullable=False))
    # [{unit_id, unit, via_unit?, username?, display_name?, email?, error?}]: one entry per
    # person told (of the unit, or via_unit: of its nearest ancestor with someone), or per unit
    # with nobody to tell.
    targets: list[dict[str, Any]] = Field(sa_column=Column(JSON, nullable=False))
    outcome: EscalationOutcome = Field(sa_column=enum_column(EscalationOutcome))
    # When notify confirmed it queued the messages (null: not yet handed over).
    queued_at: BeijingTime | None = Field(
        default=None, sa_column=Column(UTCDateTime, nullable=True)
    )


class EscalationTarget(SQLModel):
    """Someone told, or a unit with nobody to tell (``error`` says why). ``via_unit``: the
    unit had nobody, and this person of its nearest ancestor was told for it."""

    unit_id: int
    unit: str
    via_unit: str | None = None
    username: str | None = None
    display_name: str | None = None
    email: str | None = None
    error: str | None = None


class EscalationPublic(SQLModel):
    """A recorded step as the item's page and the reports show it."""

    id: int
    item_id: int
    seq: int
    task: str
    level: EscalationLevel
    level_label: str
    period_start: date
    due_on: date
    fired_on: date
    recorded_at: BeijingTime
    to_whom: str
    targets: list[EscalationTarget]
    outcome: EscalationOutcome
    outcome_label: str
    queued_at: BeijingTime | None


class StalePolicy(SQLModel):
    """A ledger's stale rule (更新超期规则), in working days."""

    stale_after_days: int = Field(ge=1, le=120)
    escalate_after_days: int = Field(ge=1, le=120)


class EscalationFeedStep(SQLModel):
    """A step for notify to send: the item, the level and whom to tell."""

    id: int
    item_id: int
    ledger_code: str
    seq: int
    task: str
    status_label: str
    level: EscalationLevel
    level_label: str
    period_start: date
    working_days_without_update: int
    due_on: date
    fired_on: date
    targets: list[EscalationTarget]


class EscalationFeed(SQLModel):
    """The steps recorded by a run and not yet handed to notify (待发送的督办)."""

    as_of: date
    working_day: bool
    recorded: int
    steps: list[EscalationFeedStep]


class EscalationAck(SQLModel):
    """The steps whose messages notify has queued."""

    step_ids: list[int] = Field(max_length=10_000)


class EscalationAckResult(SQLModel):
    acknowledged: int
