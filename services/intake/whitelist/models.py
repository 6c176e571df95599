"""三零 decisions, the whitelist (白名单) and the grid capacity per area (配电网接入能力).

Staff keep, per unit, the distribution areas (配电网区域) with the capacity still open for new
connections and whether an area is capacity-limited (容量受限). When an application is accepted,
the 三零 policy in force that day judges it against the area it names; an eligible application in
a capacity-limited area (or an area outside the grid plan) goes on the whitelist: the utility
upgrades the grid first (配套电网改造) and then releases it to connection.
"""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict
from pydantic import Field as DataField
from sqlalchemy import JSON, Column, ForeignKey, Index, Integer, Numeric, Text, UniqueConstraint
from sqlmodel import Field

from services.intake.db import IntakeTable
from services.intake.rules.three_zero import Area, CustomerCategory
from shared.db import UTCDateTime, enum_column
from shared.masking import FREE_TEXT
from shared.pagination import Page
from shared.timeutil import BeijingTime
from shared.vocab import CustomerType, CustomerTyped


class WhitelistStatus(StrEnum):
    """待配套电网改造 → 改造完成 → 已转入接电, in that order only."""

    pending_upgrade = "pending_upgrade"
    upgrade_done = "upgrade_done"
    released = "released"


WHITELIST_STATUS_LABELS = {
    WhitelistStatus.pending_upgrade: "待配套电网改造",
    WhitelistStatus.upgrade_done: "配套电网改造完成",
    WhitelistStatus.released: "已转入报装接电",
}
NEXT_STATUS = {
    WhitelistStatus.pending_upgrade: WhitelistStatus.upgrade_done,
    WhitelistStatus.upgrade_done: WhitelistStatus.released,
}


# ---- tables ----------------------------------------------------------------------------------


class GridArea(IntakeTable, table=True):
    """A distribution area of a unit and its open capacity (配电网接入能力), kept by staff."""

    __tablename__ = "grid_areas"
    __table_args__ = (UniqueConstraint("unit", "name", name="uq_grid_areas_unit_name"),)
    id: int | None = Field(default=None, primary_key=True)
    unit: str = Field(max_length=100)
    name: str = Field(max_length=100)
    available_kva: Decimal = Field(sa_column=Column(Numeric(12, 2), nullable=False))
    capacity_limited: bool = False
    in_grid_plan: bool = True
    note: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    updated_at: BeijingTime = Field(sa_column=Column(UTCDateTime, nullable=False))
    updated_by: str = Field(max_length=100)


class ThreeZeroAssessment(IntakeTable, table=True):
    """The 三零 decision taken when an application was accepted (三零 判定), one per application."""

    __tablename__ = "three_zero_assessments"
    id: int | None = Field(default=None, primary_key=True)
    application_id: int = Field(
        sa_column=Column(Integer, ForeignKey("applications.id"), nullable=False, unique=True)
    )
    policy_code: str | None = Field(default=None, max_length=64)
    category: CustomerCategory = Field(sa_column=enum_column(CustomerCategory))
    area: Area = Field(sa_column=enum_column(Area))
    grid_area_id: int | None = Field(
        default=None, sa_column=Column(Integer, ForeignKey("grid_areas.id"), nullable=True)
    )
    capacity_limited: bool
    in_grid_plan: bool
    eligible: bool
    zero_investment: bool
    capacity_limit_kw: Decimal | None = Field(
        default=None, sa_column=Column(Numeric(12, 2), nullable=True)
    )
    whitelist: bool
    reasons: list[str] = Field(sa_column=Column(JSON, nullable=False))
    assessed_at: BeijingTime = Field(sa_column=Column(UTCDateTime, nullable=False))
    declared_customer_type: CustomerType | None = Field(
        default=None, sa_column=enum_column(CustomerType, nullable=True)
    )
    """The type the clerk entered, when the decision gave the application another workflow."""
    override_eligible: bool | None = None
    """Set when a clerk overrode the decision the facts gave (人工调整): the outcome chosen."""
    override_reason: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    overridden_by: str | None = Field(default=None, max_length=100)
    overridden_at: BeijingTime | None = Field(
        default=None, sa_column=Column(UTCDateTime, nullable=True)
    )


class WhitelistEntry(IntakeTable, table=True):
    """An application waiting for a grid upgrade before connection (白名单备案)."""

    __tablename__ = "whitelist_entries"
    __table_args__ = (
        Index("ix_whitelist_entries_unit_status", "unit", "status", "id"),
        Index("ix_whitelist_entries_status", "status", "id"),
        Index("ix_whitelist_entries_area_status", "grid_area_id", "status"),
    )
    id: int | None = Field(default=None, primary_key=True)
    application_id: int = Field(
        sa_column=Column(Integer, ForeignKey("applications.id"), nullable=False, unique=True)
    )
    unit: str = Field(max_length=100)
    grid_area_id: int | None = Field(
        default=None, sa_column=Column(Integer, ForeignKey("grid_areas.id"), nullable=True)
    )
    reason: str = Field(sa_column=Column(Text, nullable=False))
    status: WhitelistStatus = Field(sa_column=enum_column(WhitelistStatus))
    created_at: BeijingTime = Field(sa_column=Column(UTCDateTime, nullable=False))
    upgrade_done_at: BeijingTime | None = Field(
        default=None, sa_column=Column(UTCDateTime, nullable=True)
    )
    upgrade_done_by: str | None = Field(default=None, max_length=100)
    upgrade_note: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    released_at: BeijingTime | None = Field(
        default=None, sa_column=Column(UTCDateTime, nullable=True)
    )
    released_by: str | None = Field(default=None, max_length=100)
    release_note: str | None = Field(default=None, sa_column=Column(Text, nullable=True))


# ---- request shapes --------------------------------------------------------------------------


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class GridAreaCreate(_Body):
    unit: str = DataField(min_length=1, max_length=100, description="供电单位")
    name: str = DataField(
        min_length=1, max_length=100, description="配电网区域（如台区、供电网格）"
    )
    available_kva: Decimal = DataField(
        ge=0, le=10_000_000, decimal_places=2, description="可开放容量（千伏安）"
    )
    capacity_limited: bool = DataField(default=False, description="容量受限")
    in_grid_plan: bool = DataField(default=True, description="已纳入电网规划")
    note: str = DataField(default="", max_length=2000)


class GridAreaUpdate(_Body):
    available_kva: Decimal | None = DataField(
        default=None, ge=0, le=10_000_000, decimal_places=2, description="可开放容量（千伏安）"
    )
    capacity_limited: bool | None = None
    in_grid_plan: bool | None = None
    note: str | None = DataField(default=None, max_length=2000)


class WhitelistTransition(_Body):
    status: Literal[WhitelistStatus.upgrade_done, WhitelistStatus.released]
    note: str = DataField(default="", max_length=2000, description="改造或接电安排说明")


# ---- response shapes -------------------------------------------------------------------------


class GridAreaPublic(BaseModel):
    id: int
    unit: str
    name: str
    available_kva: Decimal
    capacity_limited: bool
    in_grid_plan: bool
    status_label: str
    note: str
    updated_at: BeijingTime
    updated_by: str


class ThreeZeroOverridePublic(BaseModel):
    """Who overrode the decision the facts gave, why and when."""

    eligible_by_facts: bool
    eligible: bool
    reason: Annotated[str, FREE_TEXT]
    overridden_by: str
    overridden_at: BeijingTime


class ThreeZeroPublic(BaseModel):
    """The 三零 decision of an application (三零 判定) and why, in Chinese."""

    policy_code: str | None = DataField(description="三零 policy in force on acceptance, if any")
    eligible: bool
    zero_investment: bool = DataField(description="零投资：供电企业投资至电能表")
    capacity_limit_kw: Decimal | None
    grid_area: str | None
    capacity_limited: bool
    whitelist: bool
    whitelist_status: WhitelistStatus | None
    whitelist_status_label: str | None
    reasons: list[str]
    assessed_at: BeijingTime
    declared_customer_type: CustomerType | None = DataField(
        default=None,
        description="The type entered, when the decision gave the application another workflow",
    )
    override: ThreeZeroOverridePublic | None = DataField(
        default=None, description="人工调整：the override of the facts' decision, if any"
    )


class WhitelistItem(CustomerTyped):
    id: int
    number: str
    unit: str
    grid_area: str | None
    applicant_name: str
    mobile: str = DataField(description="Masked unless the caller is a clerk of the unit")
    capacity_kw: Decimal
    accepted_at: BeijingTime
    reason: str
    status: WhitelistStatus
    status_label: str
    created_at: BeijingTime
    upgrade_done_at: BeijingTime | None
    upgrade_done_by: str | None
    upgrade_note: Annotated[str | None, FREE_TEXT]
    released_at: BeijingTime | None
    released_by: str | None
    release_note: Annotated[str | None, FREE_TEXT]


class WhitelistPage(Page[WhitelistItem]):
    """A page of whitelist records (白名单)."""


class WhitelistCount(BaseModel):
    unit: str
    pending_upgrade: int
    upgrade_done: int
    released: int
    total: int


class WhitelistJurisdiction(BaseModel):
    """One jurisdiction's records per unit, under its own rule and source (规则出处)."""

    jurisdiction: str
    local_rule: bool = DataField(description="本地区行动方案是否有“白名单”备案规定")
    rule: str = DataField(
        description="本地区的规定原文；没有本地规定时为“没有…”的说明及所适用的规定"
    )
    source: str = DataField(description="本地区的出处（行动方案及条目）")
    units: list[WhitelistCount]
    subtotal: WhitelistCount


class WhitelistReport(BaseModel):
    """白名单统计: records per jurisdiction, unit and status, with the overall figures.

    The report spans jurisdictions, so each group cites its own rule and source: Dongying's
    plan has the 白名单 备案 rule, Jingyu's says plainly that it has none."""

    title: str = "“白名单”备案及配套电网改造情况"
    jurisdictions: list[WhitelistJurisdiction]
    overall: WhitelistCount


def status_of(area: GridArea) -> str:
    """容量受限 / 未纳入电网规划 / 可开放, as the public sees an area."""
    if not area.in_grid_plan:
        return "未纳入电网规划"
    return "容量受限" if area.capacity_limited else "可开放"
