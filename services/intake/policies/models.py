"""Time-limit policies (办理时限): the working days each stage of a connection may take.

A policy *version* is one jurisdiction's table, in force from a date until the next version of
the same jurisdiction. The reference versions transcribed from the plans live in
``reference.json``; administrators add later ones, stored in ``time_limit_policies``.
"""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict
from pydantic import Field as DataField
from sqlalchemy import JSON, Column, String, Text, UniqueConstraint
from sqlmodel import Field

from services.intake.db import IntakeTable
from shared.db import UTCDateTime
from shared.timeutil import BeijingTime
from shared.validation import Day
from shared.vocab import CustomerType

LOW_VOLTAGE_TYPES = frozenset(
    {CustomerType.residential, CustomerType.low_voltage_three_zero, CustomerType.low_voltage}
)


class Stage(StrEnum):
    """办理环节. High-voltage and non-三零 users go through the standard six (or fewer);
    residential and 三零 users through the two simplified ones (受理签约, 施工接电). Where a plan
    merges stages (Jingyu's item 8 for 大中型企业) the users go through the merged four: 业务受理,
    供电方案答复 (现场勘察 is part of it), 外部工程实施 and 竣工验收及装表接电."""

    acceptance = "acceptance"
    supply_plan = "supply_plan"
    design_review = "design_review"
    midway_inspection = "midway_inspection"
    completion_inspection = "completion_inspection"
    connection = "connection"
    signing = "signing"
    construction_connection = "construction_connection"
    external_works = "external_works"
    inspection_connection = "inspection_connection"


STAGE_LABELS: dict[Stage, str] = {
    Stage.acceptance: "业务受理",
    Stage.supply_plan: "供电方案答复",
    Stage.design_review: "设计审查",
    Stage.midway_inspection: "中间检查",
    Stage.completion_inspection: "竣工检验",
    Stage.connection: "装表接电",
    Stage.signing: "受理签约",
    Stage.construction_connection: "施工接电",
    Stage.external_works: "外部工程实施",
    Stage.inspection_connection: "竣工验收及装表接电",
}
STANDARD_STAGES = (
    Stage.acceptance,
    Stage.supply_plan,
    Stage.design_review,
    Stage.midway_inspection,
    Stage.completion_inspection,
    Stage.connection,
)
SIMPLIFIED_STAGES = (Stage.signing, Stage.construction_connection)
MERGED_STAGES = (
    Stage.acceptance,
    Stage.supply_plan,
    Stage.external_works,
    Stage.inspection_connection,
)
"""Jingyu's four for 大中型企业 (item 8): 现场勘察 merged into 供电方案答复, 竣工验收 merged
with 装表接电, 设计审查 and 中间检查 cancelled, the works (外部工程实施) a stage of their own."""
STAGE_FAMILIES = (STANDARD_STAGES, SIMPLIFIED_STAGES, MERGED_STAGES)


class StageLimit(BaseModel):
    """One stage and its limit in working days; ``None`` when only a total is set."""

    model_config = ConfigDict(extra="forbid")
    stage: Stage
    limit_days: int | None = DataField(default=None, ge=1, le=365)


class PolicyEntry(BaseModel):
    """The stages and limits of one customer type.

    ``total_days`` is the whole grid-side time (电网环节办理时长). When the stages carry no
    limits, the total alone is the budget. ``no_works_total_days`` is the budget of a
    low-voltage application without works (无工程的低压用户, 当日申请、次日接电).
    """

    model_config = ConfigDict(extra="forbid")
    customer_type: CustomerType
    stages: list[StageLimit] = DataField(min_length=1, max_length=len(STANDARD_STAGES))
    total_days: int = DataField(ge=1, le=365)
    no_works_total_days: int | None = DataField(default=None, ge=1, le=365)

    def limit_of(self, stage: Stage) -> int | None:
        return next(s.limit_days for s in self.stages if s.stage is stage)

    @property
    def staged(self) -> bool:
        """Whether each stage has a limit of its own (else only the total counts)."""
        return all(s.limit_days is not None for s in self.stages)


class PolicyVersionCreate(BaseModel):
    """A new version of a jurisdiction's time-limit table (新增时限政策版本)."""

    model_config = ConfigDict(extra="forbid")
    code: str = DataField(min_length=2, max_length=64, pattern=r"^[a-z0-9][a-z0-9\-]*$")
    jurisdiction: str = DataField(min_length=2, max_length=40, pattern=r"^[a-z0-9][a-z0-9\-]*$")
    jurisdiction_name: str = DataField(min_length=1, max_length=100)
    title: str = DataField(min_length=1, max_length=200)
    source: str = DataField(min_length=1, max_length=500, description="文件出处")
    effective_from: Day = DataField(
        description="Applications accepted on or after this Beijing date"
    )
    supervising_unit: str = DataField(min_length=1, max_length=100, description="督办单位")
    note: str = DataField(default="", max_length=2000)
    entries: list[PolicyEntry] = DataField(min_length=1, max_length=len(CustomerType))

    def entry_for(self, customer_type: CustomerType) -> PolicyEntry:
        return next(e for e in self.entries if e.customer_type is customer_type)


class PolicyVersionPublic(PolicyVersionCreate):
    origin: Literal["reference", "admin"]
    created_at: BeijingTime | None = None
    created_by: str | None = None


class PolicyVersionAdded(PolicyVersionPublic):
    rejudged_applications: int = DataField(
        description="Applications accepted while it is in force, judged again by it (重新判定)"
    )


class TimeLimitPolicy(IntakeTable, table=True):
    """A version added by an administrator (the reference versions live in reference.json)."""

    __tablename__ = "time_limit_policies"
    __table_args__ = (
        UniqueConstraint(
            "jurisdiction", "effective_from", name="uq_time_limit_policies_jurisdiction_from"
        ),
    )
    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(sa_column=Column(String(64), nullable=False, unique=True))
    jurisdiction: str = Field(max_length=40)
    jurisdiction_name: str = Field(max_length=100)
    title: str = Field(max_length=200)
    source: str = Field(max_length=500)
    effective_from: date
    supervising_unit: str = Field(max_length=100)
    note: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    entries: list[dict[str, Any]] = Field(sa_column=Column(JSON, nullable=False))
    created_at: BeijingTime = Field(sa_column=Column(UTCDateTime, nullable=False))
    created_by: str = Field(max_length=100)
