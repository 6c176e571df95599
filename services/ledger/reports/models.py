"""The shapes of a ledger report (半年报告、年度报告)."""

from __future__ import annotations

from datetime import date
from enum import StrEnum

from sqlmodel import SQLModel

from services.ledger.escalations.models import EscalationPublic
from services.ledger.ledgers.models import ItemPublic
from services.ledger.updates.models import TaskStatus
from shared.timeutil import BeijingTime


class ReportKind(StrEnum):
    half_year = "half_year"
    annual = "annual"


class UnitSummary(SQLModel):
    unit_id: int
    unit: str
    items: int
    by_status: dict[TaskStatus, int]
    overdue: int


class LedgerReport(SQLModel):
    ledger_code: str
    ledger_name: str
    kind: ReportKind
    title: str
    year: int
    period_start: date
    period_end: date
    submission_due: date
    as_of: date
    generated_at: BeijingTime
    status_totals: dict[TaskStatus, int]
    items: list[ItemPublic]
    units: list[UnitSummary]
    overdue: list[ItemPublic]
    # Stale-update escalation steps (更新超期督办) fired in the period up to ``as_of``.
    escalations: list[EscalationPublic] = []
