"""The regulator's comparison (监管对比): every power company of the city side by side."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from enum import StrEnum

from pydantic import BaseModel
from pydantic import Field as DataField

from services.intake.kpis.models import DaysFigures, StageFigures
from shared.timeutil import BeijingTime

RANKING_RULE = (
    "按时限内办结占比从高到低排名；占比相同的，电网环节平均用时少者在前；"
    "再相同的，户均收费低者在前；统计期内无接电申请的单位不参与排名"
)


class Period(StrEnum):
    """The part of the year compared (统计期间)."""

    year = "year"  # 全年
    h1 = "h1"  # 上半年
    h2 = "h2"  # 下半年

    @property
    def label(self) -> str:
        return {"year": "全年", "h1": "上半年", "h2": "下半年"}[self.value]

    def bounds(self, year: int) -> tuple[date, date]:
        if self is Period.h1:
            return date(year, 1, 1), date(year, 6, 30)
        if self is Period.h2:
            return date(year, 7, 1), date(year, 12, 31)
        return date(year, 1, 1), date(year, 12, 31)


class ReliabilityRow(BaseModel):
    """Outage hours per customer of an area class against the plan (notify's figures)."""

    area_class: str
    area_class_label: str
    saidi_hours: float
    target_hours: float
    meets: bool


class CompanyFigures(BaseModel):
    """One power-supply unit's figures (供电单位指标)."""

    unit: str
    kind: str = DataField(description="company (公司) or branch (县区公司)")
    parent: str | None
    applications: int = DataField(description="Applications connected in the period (接电户数)")
    procedures_mean: float | None = DataField(description="Stages per application (环节数)")
    total: DaysFigures = DataField(description="Grid-side working days of the whole process")
    total_limit_days: int | None = DataField(
        description="The plan's whole-process limit (全流程时限, 工作日) the applications were "
        "accepted under, from the rules data; null when they differ or without connections"
    )
    total_meets_limit: bool | None = DataField(
        description="Whether the mean working days of the whole process keep that limit"
    )
    stages: list[StageFigures]
    fees_total: Decimal = DataField(description="Fees charged (收费合计, 元)")
    fees_per_application: Decimal | None = DataField(description="户均收费 (元)")
    rank: int | None = DataField(default=None, description="通报 rank; null without connections")
    outage_hours: list[ReliabilityRow] = DataField(
        default=[],
        description="The company's 户均停电时间 per area class against the plan's targets "
        "(its own outages and its sub-units', notify's figures); empty when notify is unavailable",
    )


class Reliability(BaseModel):
    available: bool
    reason: str | None = DataField(default=None, description="Why not, when unavailable")
    plan_name: str | None = None
    rows: list[ReliabilityRow] = []


class Comparison(BaseModel):
    year: int
    period: Period
    period_label: str
    period_start: date
    period_end: date
    generated_at: BeijingTime
    ranking_rule: str
    companies: list[CompanyFigures]
    reliability: Reliability = DataField(
        description="Notify's 户均停电时间 for the whole city; each company's is in its row"
    )
