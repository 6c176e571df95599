"""Official holiday arrangements (节假日安排) loaded by administrators, one row per year."""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import BaseModel, ConfigDict
from pydantic import Field as DataField
from sqlalchemy import JSON, Column
from sqlmodel import Field

from services.intake.db import IntakeTable
from shared.db import UTCDateTime
from shared.timeutil import BeijingTime
from shared.validation import Day

PREDICTED_SOURCE = "predicted statutory holidays (未公布，按法定节假日预测，结果为暂定)"
"""The source of an unpublished year: its statutory holidays predicted, everything over it
provisional."""


class CalendarYear(IntakeTable, table=True):
    """A year's arrangement as published by the State Council (国务院办公厅), loaded over the API.

    It overrides the ``chinesecalendar`` package for its year, and confirms years the package
    does not know yet.
    """

    __tablename__ = "calendar_years"
    year: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    holidays: list[str] = Field(sa_column=Column(JSON, nullable=False))
    makeup_workdays: list[str] = Field(sa_column=Column(JSON, nullable=False))
    source: str = Field(max_length=300)
    loaded_at: BeijingTime = Field(sa_column=Column(UTCDateTime, nullable=False))
    loaded_by: str = Field(max_length=100)
    # On the record (integrity/clock_record.py): one HMAC per field, so that verify names the
    # field changed outside intake; None only for a row written outside intake.
    key_id: str | None = Field(default=None, max_length=32)
    seals: dict[str, str] | None = Field(default=None, sa_column=Column(JSON, nullable=True))


class YearArrangementIn(BaseModel):
    """A year's days off (放假) and make-up working days (调休上班)."""

    model_config = ConfigDict(extra="forbid")
    holidays: list[Day] = DataField(max_length=366, description="放假日期（可含周末）")
    makeup_workdays: list[Day] = DataField(max_length=120, description="调休上班的周六、周日")
    source: str = DataField(
        min_length=1, max_length=300, description="出处，如 国办发明电〔2025〕7号"
    )


class CalendarYearSummary(BaseModel):
    year: int
    source: str
    origin: Literal["package", "loaded"]
    loaded_at: BeijingTime | None = None
    loaded_by: str | None = None


class CalendarYears(BaseModel):
    """Confirmed years and the years of the precomputed range that nobody has confirmed."""

    confirmed: list[CalendarYearSummary]
    unconfirmed: list[int]


class CalendarYearDetail(CalendarYearSummary):
    confirmed: bool
    holidays: list[date] = DataField(description="Weekdays off (工作日放假)")
    makeup_workdays: list[date] = DataField(description="Weekend working days (调休上班)")
    working_days: int


class CalendarLoadResult(CalendarYearDetail):
    recomputed_applications: int = DataField(
        description="Applications whose deadlines were recomputed (重新计算时限的申请数)"
    )
    moved_deadlines: int = DataField(
        default=0,
        description="Live deadlines whose date moved, each recorded and told (时限变更数)",
    )
