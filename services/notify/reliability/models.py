"""Official customer counts (官方用户数): what the power company reports per area class and year."""

from __future__ import annotations

from enum import StrEnum

from sqlalchemy import Column, UniqueConstraint
from sqlmodel import Field, SQLModel

from services.notify.db import NotifyTable
from shared.db import UTCDateTime, enum_column
from shared.timeutil import BeijingTime
from shared.vocab import AreaClass, AreaClassed


class CustomersSource(StrEnum):
    """Where a customers-served figure came from."""

    official = "official"  # recorded by staff from the company's report (官方用户数)
    subscribers = "subscribers"  # derived from the subscribers served on 31 December


class OfficialCustomerCount(NotifyTable, table=True):
    """Customers served (服务户数) of an area class in a year, as officially reported; takes
    precedence over the count derived from the subscribers."""

    __tablename__ = "official_customer_counts"
    __table_args__ = (UniqueConstraint("year", "area_class"),)
    id: int | None = Field(default=None, primary_key=True)
    year: int
    area_class: AreaClass = Field(sa_column=enum_column(AreaClass))
    customers: int
    note: str | None = Field(default=None, max_length=300)
    recorded_by: str = Field(max_length=100)
    recorded_at: BeijingTime = Field(sa_column=Column(UTCDateTime, nullable=False))


class OfficialCountIn(SQLModel):
    customers: int = Field(ge=1, le=100_000_000, description="服务户数 as reported")
    note: str | None = Field(
        default=None, max_length=300, description="Where the figure comes from (来源)"
    )


class OfficialCountPublic(AreaClassed):
    year: int
    customers: int
    note: str | None
    recorded_by: str
    recorded_at: BeijingTime


# The plans' targets (targets.json) and the report measured against them.


class PlanTarget(SQLModel):
    code: str
    name: str
    by_end_of: int
    saidi_hours: dict[AreaClass, float]
    year_on_year_reduction_percent: float
    source: str


class Targets(SQLModel):
    area_classes: list[AreaClass]
    plans: list[PlanTarget]


class Figures(SQLModel):
    interruptions: int = 0  # customer interruptions (停电户次)
    customer_hours: float = 0.0  # 停电时户数
    saidi_hours: float = 0.0  # 户均停电时间
    saifi: float = 0.0  # 户均停电次数


class AreaClassReliability(AreaClassed):
    customers_served: int  # 服务户数, the denominator
    customers_served_source: CustomersSource
    customers_served_derived: int  # subscribers served on 31 December, for comparison
    planned: Figures
    unplanned: Figures
    total: Figures
    target_hours: float
    previous_year_saidi_hours: float | None
    reduction_percent: float | None
    meets_target_hours: bool
    meets_reduction: bool
    meets: bool


class ReliabilityReport(SQLModel):
    year: int
    plan: str
    plan_name: str
    unit: str | None = None  # the company counted (and the units under it); None: the city
    reduction_target_percent: float
    outages_counted: int
    outages_ongoing: int
    area_classes: list[AreaClassReliability]
