"""Getting Electricity figures (获得电力指标) of the applications connected in a period."""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel
from pydantic import Field as DataField

from services.intake.policies.models import Stage
from shared.timeutil import BeijingTime
from shared.vocab import CustomerType


class DaysFigures(BaseModel):
    """Grid-side working days (电网环节办理时长) over a set of applications or stages."""

    count: int
    mean: float | None
    median: float | None
    p90: int | None = DataField(description="90th percentile, nearest rank")
    max: int | None
    within_limit: int = DataField(description="How many kept their limit (时限内办结)")
    within_limit_share: float | None = DataField(description="Share within the limit, 0–1")


class StageFigures(BaseModel):
    stage: Stage
    label: str
    limit_days: int | None = DataField(description="The limit, if every application had one")
    grid: DaysFigures


class WorstCase(BaseModel):
    number: str
    unit: str
    grid_days: int
    elapsed_days: int
    paused_days: int
    limit_days: int
    accepted_at: BeijingTime
    connected_at: BeijingTime
    due_date: date = DataField(
        description="The whole process's due date (全流程期限): the limit from acceptance, "
        "moved on by the working days paused"
    )
    due_provisional: bool = DataField(
        description="预测: the due date was counted over a year whose arrangement is not published"
    )


class TypeFigures(BaseModel):
    customer_type: CustomerType
    label: str
    applications: int
    stage_count: int = DataField(description="Stages of the process (办电环节数)")
    total: DaysFigures
    elapsed_mean: float | None = DataField(
        description="Mean working days including pauses for the customer (全流程时长)"
    )
    stages: list[StageFigures]
    paused_applications: int = DataField(description="Applications paused for the customer")
    pauses: int
    paused_days_mean: float | None
    worst: list[WorstCase] = DataField(description="Longest grid-side times (最长用时)")


class KpiReport(BaseModel):
    period_start: date
    period_end: date
    jurisdiction: str | None
    unit: str | None
    generated_at: BeijingTime
    applications: int
    types: list[TypeFigures]
