"""External-line works (电力外线接入工程) of an application: the facts, the approval they need,
the approval's state, and the duty to push the construction information after completion.

The decision itself is the pure rule :func:`services.intake.rules.external_lines.
decide_external_line_approval`; this module stores what it decided and what happened next.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict
from pydantic import Field as DataField
from sqlalchemy import JSON, Column, ForeignKey, Index, Integer, Numeric, String, Text, text
from sqlmodel import Field

from services.intake.db import IntakeTable
from services.intake.rules.external_lines import ApprovalProcedure, Crossing, PushState
from services.intake.rules.terms import VoltageClass
from shared.db import UTCDateTime, enum_column
from shared.masking import FREE_TEXT
from shared.pagination import Page
from shared.timeutil import BeijingTime
from shared.validation import Day


class ApprovalState(StrEnum):
    """Where the works' approval stands (审批状态)."""

    not_needed = "not_needed"
    """免审批"""
    filed = "filed"
    """已备案 (告知承诺备案制: filed on a commitment, work may start)"""
    pending = "pending"
    """待审批 (告知承诺制 or 原程序审批: the approval department has not answered)"""
    approved = "approved"
    """已批准"""
    rejected = "rejected"
    """未批准"""


APPROVAL_STATE_LABELS = {
    ApprovalState.not_needed: "免审批",
    ApprovalState.filed: "已告知承诺备案",
    ApprovalState.pending: "待审批",
    ApprovalState.approved: "已批准",
    ApprovalState.rejected: "未批准",
}

INITIAL_STATE = {
    ApprovalProcedure.exempt: ApprovalState.not_needed,
    ApprovalProcedure.commitment_filing: ApprovalState.filed,
    ApprovalProcedure.commitment: ApprovalState.pending,
    ApprovalProcedure.full_approval: ApprovalState.pending,
}
"""The state a fresh decision starts in: only 告知承诺制 and 原程序审批 wait for an answer."""

BLOCKING_STATES = frozenset({ApprovalState.pending, ApprovalState.rejected})
"""The power cannot be connected while the works wait for, or were refused, their approval."""

UNPUSHED = "pushed_at IS NULL"


class ExternalLineRecord(IntakeTable, table=True):
    """The external-line works of one application (one row per application)."""

    __tablename__ = "external_line_works"
    __table_args__ = (
        Index("ix_external_line_works_state", "approval_state"),
        # The push duty still open, by its last day: the overdue list is a range scan.
        Index(
            "ix_external_line_works_unpushed",
            "push_due_on",
            postgresql_where=text(UNPUSHED),
            sqlite_where=text(UNPUSHED),
        ),
    )
    id: int | None = Field(default=None, primary_key=True)
    application_id: int = Field(
        sa_column=Column(Integer, ForeignKey("applications.id"), nullable=False, unique=True)
    )
    voltage: VoltageClass = Field(sa_column=enum_column(VoltageClass))
    length_m: Decimal = Field(sa_column=Column(Numeric(10, 2), nullable=False))
    crossings: list[str] = Field(sa_column=Column(JSON, nullable=False))
    procedure: ApprovalProcedure = Field(sa_column=enum_column(ApprovalProcedure))
    rule_code: str = Field(max_length=64)
    explanation: str = Field(sa_column=Column(Text, nullable=False))
    approval_state: ApprovalState = Field(sa_column=enum_column(ApprovalState))
    recorded_at: BeijingTime = Field(sa_column=Column(UTCDateTime, nullable=False))
    recorded_by: str = Field(max_length=100)
    approval_number: str | None = Field(default=None, max_length=100)
    approval_decided_on: date | None = None
    approval_received_at: BeijingTime | None = Field(
        default=None, sa_column=Column(UTCDateTime, nullable=True)
    )
    approval_note: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    approval_source: str | None = Field(default=None, max_length=64)
    completed_at: BeijingTime | None = Field(
        default=None, sa_column=Column(UTCDateTime, nullable=True)
    )
    completed_on: date | None = None
    completed_by: str | None = Field(default=None, max_length=100)
    push_due_on: date | None = None
    pushed_at: BeijingTime | None = Field(
        default=None, sa_column=Column(UTCDateTime, nullable=True)
    )
    pushed_on: date | None = None
    pushed_by: str | None = Field(default=None, max_length=100)
    push_reference: str | None = Field(default=None, sa_column=Column(String(200), nullable=True))


# ---- request shapes --------------------------------------------------------------------------


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ExternalLineIn(_Body):
    """The works as designed (外线工程概况)."""

    length_m: Decimal = DataField(
        gt=0, le=1_000_000, decimal_places=2, description="管线长度（米）"
    )
    voltage: VoltageClass | None = DataField(
        default=None, description="低压/高压; default: the customer type's supply voltage"
    )
    crossings: list[Crossing] = DataField(
        default_factory=list,
        max_length=len(Crossing),
        description="Roads and land the line digs or occupies (涉及挖掘、占用的道路和绿地)",
    )


class PushIn(_Body):
    """The construction information has been pushed to the approval department (施工信息推送)."""

    reference: str = DataField(min_length=1, max_length=200, description="推送回执或编号")


class ApprovalOutcome(StrEnum):
    approved = "approved"
    rejected = "rejected"


class ApprovalResultIn(_Body):
    """The approval department's result, posted by the approval service (审批结果反馈)."""

    application_number: str = DataField(min_length=1, max_length=24)
    result: ApprovalOutcome
    approval_number: str = DataField(min_length=1, max_length=100, description="批准或备案文号")
    decided_on: Day = DataField(description="审批部门作出决定的日期")
    note: str = DataField(default="", max_length=2000)


# ---- response shapes -------------------------------------------------------------------------


class RulePublic(BaseModel):
    code: str
    text: str
    source: str
    plan: str
    """The plan the rule is from: the application's own jurisdiction's."""


class ApprovalPublic(BaseModel):
    state: ApprovalState
    state_label: str
    approval_number: str | None
    decided_on: date | None
    received_at: BeijingTime | None
    note: Annotated[str | None, FREE_TEXT]


class PushPublic(BaseModel):
    """The duty to push the construction information within 3 months of completion."""

    completed_on: date
    due_on: date
    pushed_on: date | None
    reference: str | None
    state: PushState
    overdue: bool
    days_overdue: int
    rule: str


class ExternalLinePublic(BaseModel):
    application_number: str
    unit: str
    voltage: VoltageClass
    length_m: Decimal
    crossings: list[Crossing]
    procedure: ApprovalProcedure
    procedure_name: str
    rule: RulePublic
    explanation: str
    local_rule: bool
    """Whether the application's jurisdiction has rules of its own for external lines."""
    approval: ApprovalPublic
    recorded_at: BeijingTime
    recorded_by: str
    completed_at: BeijingTime | None
    push: PushPublic | None
    push_note: str | None
    """Where the jurisdiction has no push duty, why (e.g. its plan has no such rule)."""


class ExternalLinePage(Page[ExternalLinePublic]):
    """A page of external-line works (外线工程)."""
