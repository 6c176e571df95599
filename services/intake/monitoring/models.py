"""Monitoring, warning and escalation (监测、预警、督办).

An open stage is on time, at risk or overdue by its stored due date and first at-risk day,
judged against today in SQL. An overdue stage opens one escalation (督办) to the supervising
unit, which acknowledges and resolves it, recording who did and how.
"""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict
from pydantic import Field as DataField
from sqlalchemy import Column, ForeignKey, Index, Integer, Text, UniqueConstraint
from sqlmodel import Field

from services.intake.db import IntakeTable
from services.intake.policies.models import Stage
from shared.db import UTCDateTime, enum_column
from shared.masking import FREE_TEXT
from shared.pagination import Page
from shared.timeutil import BeijingTime
from shared.vocab import CustomerType, CustomerTyped


class EscalationState(StrEnum):
    """待处理 / 已受理 / 已办结."""

    open = "open"
    acknowledged = "acknowledged"
    resolved = "resolved"


ESCALATION_STATE_LABELS = {
    EscalationState.open: "待处理",
    EscalationState.acknowledged: "已受理",
    EscalationState.resolved: "已办结",
}


class Escalation(IntakeTable, table=True):
    """督办: opened when a stage runs over its limit, once per stage of an application."""

    __tablename__ = "escalations"
    __table_args__ = (
        UniqueConstraint("application_id", "stage_seq", name="uq_escalations_stage"),
        Index("ix_escalations_state_supervising", "state", "supervising_unit", "opened_at"),
        Index("ix_escalations_unit_state", "unit", "state"),
    )
    id: int | None = Field(default=None, primary_key=True)
    application_id: int = Field(
        sa_column=Column(Integer, ForeignKey("applications.id"), nullable=False)
    )
    stage_seq: int
    stage: Stage = Field(sa_column=enum_column(Stage))
    unit: str = Field(max_length=100)
    supervising_unit: str = Field(max_length=100)
    customer_type: CustomerType = Field(sa_column=enum_column(CustomerType))
    clerk: str = Field(max_length=100)
    due_date: date
    opened_at: BeijingTime = Field(sa_column=Column(UTCDateTime, nullable=False))
    state: EscalationState = Field(sa_column=enum_column(EscalationState))
    acknowledged_at: BeijingTime | None = Field(
        default=None, sa_column=Column(UTCDateTime, nullable=True)
    )
    acknowledged_by: str | None = Field(default=None, max_length=100)
    acknowledgement: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    resolved_at: BeijingTime | None = Field(
        default=None, sa_column=Column(UTCDateTime, nullable=True)
    )
    resolved_by: str | None = Field(default=None, max_length=100)
    resolution: str | None = Field(default=None, sa_column=Column(Text, nullable=True))


class WatchLevel(StrEnum):
    at_risk = "at_risk"
    overdue = "overdue"


class WatchItem(CustomerTyped):
    """An open stage that is at risk or overdue (预警/超期环节)."""

    number: str
    unit: str
    supervising_unit: str
    clerk: str
    stage: Stage
    stage_label: str
    basis: Literal["stage", "total"]
    at_risk_from: date
    due_date: date
    provisional: bool
    state: WatchLevel
    days_overdue: int = DataField(description="Working days past the due date (超期工作日)")


class WatchPage(Page[WatchItem]):
    """A page of the watch list (预警、超期清单), with the day and level it was drawn for."""

    as_of: date
    state: WatchLevel


class EscalationPublic(BaseModel):
    id: int
    number: str
    stage: Stage
    stage_label: str
    unit: str
    supervising_unit: str
    customer_type: CustomerType
    clerk: str
    due_date: date
    opened_at: BeijingTime
    state: EscalationState
    state_label: str
    acknowledged_at: BeijingTime | None
    acknowledged_by: str | None
    acknowledgement: Annotated[str | None, FREE_TEXT]
    resolved_at: BeijingTime | None
    resolved_by: str | None
    resolution: Annotated[str | None, FREE_TEXT]


class EscalationPage(Page[EscalationPublic]):
    """A page of escalations (督办事项)."""


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Acknowledgement(_Body):
    note: str = DataField(default="", max_length=2000, description="受理意见")


class Resolution(_Body):
    resolution: str = DataField(
        min_length=1, max_length=2000, description="How it was handled (处理情况)"
    )


class ScanResult(BaseModel):
    """One run of the watch (预警扫描)."""

    ran: bool
    reason: str
    as_of: date
    at_risk: int = 0
    overdue: int = 0


class RecomputeResult(BaseModel):
    recomputed_applications: int
