"""Deadlines moved by a calendar change (节假日调整引起的时限变更), one row per stage deadline.

Loading or amending a year's arrangement recomputes the open deadlines; each live deadline that
moves is recorded here, old → new, with the arrangement that moved it and the warnings it made
obsolete. The row is written in the load's transaction, together with the stage-log entry, the
portal callback and the event for notify, so a change is told exactly once.
"""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import BaseModel
from pydantic import Field as DataField
from sqlalchemy import JSON, Column, ForeignKey, Integer
from sqlmodel import Field

from services.intake.db import IntakeTable
from services.intake.policies.models import Stage
from shared.db import UTCDateTime, enum_column
from shared.timeutil import BeijingTime

Basis = Literal["stage", "total"]
Cleared = Literal["at_risk", "overdue", "escalation"]
CLEARED_LABELS: dict[str, str] = {
    "at_risk": "预警",
    "overdue": "超期",
    "escalation": "督办",
}


class DueChange(IntakeTable, table=True):
    """One live deadline (a stage's, or the whole process's) moved by a calendar load."""

    __tablename__ = "application_due_changes"
    id: int | None = Field(default=None, primary_key=True)
    application_id: int = Field(
        sa_column=Column(Integer, ForeignKey("applications.id"), nullable=False, index=True)
    )
    stage_seq: int
    stage: Stage = Field(sa_column=enum_column(Stage))
    basis: str = Field(max_length=8, description="stage: the stage's limit; total: the budget")
    old_due: date
    new_due: date
    old_provisional: bool
    new_provisional: bool
    calendar_year: int
    calendar_source: str = Field(max_length=300)
    cleared: list[str] = Field(sa_column=Column(JSON, nullable=False))
    changed_at: BeijingTime = Field(sa_column=Column(UTCDateTime, nullable=False))
    changed_by: str = Field(max_length=100)


class DueChangePublic(BaseModel):
    """A moved deadline as the API shows it (时限变更记录)."""

    stage: Stage
    stage_label: str
    basis: Basis
    old_due: date = DataField(description="原时限")
    new_due: date = DataField(description="调整后时限")
    old_provisional: bool
    new_provisional: bool
    calendar_year: int
    calendar_source: str = DataField(description="调整依据（年度安排出处）")
    cleared: list[Cleared] = DataField(description="不再适用而撤销的预警、超期、督办")
    cleared_labels: list[str]
    changed_at: BeijingTime
    changed_by: str
