"""三零 (零上门、零审批、零投资) eligibility, and the whitelist (白名单) for capacity-limited areas.

Residential customers and small and micro enterprises (小微企业) up to a capacity limit connect at
low voltage with zero investment: the utility invests up to and including the meter. The limit
is policy data, versioned by jurisdiction and the date it is in force (``three_zero.json``):
Dongying 160 kW (due 2021年6月底前), in force from 2021-01-01; Jingyu 160 kW in urban and 100 kW
in rural areas (2021年底前) from 2021-01-01, then 160 kW everywhere (2022年底前) from
2022-01-01. An application is judged by the version in force on the day it is accepted.

A target the plans set "by the end of" a year is that year's standard from its first day: the
time-limit versions read the same way (jingyu-2021's 20 working days apply from 2021-01-01), so
an application is never judged by one year's time limits and the previous year's 三零 rule.

An eligible application in an area whose open capacity is exhausted (接入容量超出可开放范围), or in
an area outside the grid plan (未纳入电网规划区域), goes on the whitelist: the utility upgrades the
grid first and connects when that is built.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from decimal import Decimal
from enum import StrEnum
from functools import cache
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, model_validator

from services.intake.rules.sources import Sourced
from services.intake.rules.terms import VoltageClass
from shared.errors import Unprocessable
from shared.vocab import CustomerType

__all__ = [
    "Area",
    "Ceiling",
    "CustomerCategory",
    "ThreeZeroDecision",
    "ThreeZeroPolicy",
    "ThreeZeroRequest",
    "ThreeZeroRules",
    "assess_three_zero",
    "category_from_facts",
    "load_three_zero_rules",
    "overridden",
    "policy_in_force",
    "workflow_type",
]

_DATA_FILE = Path(__file__).with_name("three_zero.json")


class CustomerCategory(StrEnum):
    """Who applies, as far as 三零 is concerned."""

    residential = "residential"
    """居民用户"""
    small_micro_enterprise = "small_micro_enterprise"
    """小微企业 (and other small low-voltage non-residential users)"""
    other = "other"
    """Any other non-residential customer (大中型企业等): not covered by 三零."""


class Area(StrEnum):
    urban = "urban"
    """城市地区"""
    rural = "rural"
    """农村地区"""


class _Data(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ThreeZeroPolicy(_Data):
    """One version of a jurisdiction's 三零 policy: capacity limits per category and area."""

    code: str
    jurisdiction: str
    title: str
    effective_from: date
    """The date the plan says it must be in force by (e.g. 2021年6月底前 → 2021-06-30)."""
    source: str
    rule: str
    limits_kw: dict[CustomerCategory, dict[Area, Decimal]]
    investment_boundary: str

    @model_validator(mode="after")
    def _limits_complete(self) -> ThreeZeroPolicy:
        if CustomerCategory.other in self.limits_kw:
            raise ValueError("三零 covers residential and small/micro enterprises only")
        for category, limits in self.limits_kw.items():
            if set(limits) != set(Area):
                raise ValueError(f"{category}: a limit is needed for every area")
            if any(limit <= 0 for limit in limits.values()):
                raise ValueError(f"{category}: limits must be positive")
        return self


class Citation(Sourced):
    rule: str


class Ceiling(Sourced):
    """The most any 三零 policy covers (160 kW in both plans): a customer typed as 实行“三零”的
    低压非居民用户 above it is refused whatever the version in force."""

    limit_kw: Decimal = Field(gt=0)
    rule: str


class ThreeZeroRules(_Data):
    ceiling: Ceiling
    policies: tuple[ThreeZeroPolicy, ...]
    whitelist: Citation

    @model_validator(mode="after")
    def _one_version_per_day(self) -> ThreeZeroRules:
        keys = [(p.jurisdiction, p.effective_from) for p in self.policies]
        if len(set(keys)) != len(keys):
            raise ValueError("two versions of one jurisdiction start on the same day")
        codes = [p.code for p in self.policies]
        if len(set(codes)) != len(codes):
            raise ValueError("policy codes must be unique")
        for policy in self.policies:
            for limits in policy.limits_kw.values():
                if any(limit > self.ceiling.limit_kw for limit in limits.values()):
                    raise ValueError(f"{policy.code}: a limit is above the ceiling")
        return self


@cache
def load_three_zero_rules() -> ThreeZeroRules:
    """The shipped policies (``three_zero.json``)."""
    return ThreeZeroRules.model_validate_json(_DATA_FILE.read_bytes())


def policy_in_force(
    jurisdiction: str, on: date, policies: Sequence[ThreeZeroPolicy] | None = None
) -> ThreeZeroPolicy:
    """The version of ``jurisdiction``'s policy in force on ``on`` (a Beijing date).

    Raises :class:`Unprocessable` ``three_zero_policy_not_in_force`` when there is none.
    """
    candidates = [
        p
        for p in (policies if policies is not None else load_three_zero_rules().policies)
        if p.jurisdiction == jurisdiction and p.effective_from <= on
    ]
    if not candidates:
        raise Unprocessable(
            f"no 三零 policy of '{jurisdiction}' is in force on {on.isoformat()}",
            code="three_zero_policy_not_in_force",
        )
    return max(candidates, key=lambda p: p.effective_from)


class ThreeZeroRequest(BaseModel):
    """The facts of an application that decide 三零."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    category: CustomerCategory
    capacity_kw: Decimal = Field(gt=0, le=1_000_000, description="报装容量（千瓦）")
    area: Area
    capacity_limited: bool = False
    """The area's open capacity is exhausted (接入容量超出可开放范围、容量受限)."""
    in_grid_plan: bool = True
    """False for an occasional load in an area outside the grid plan (未纳入电网规划区域)."""


class ThreeZeroDecision(BaseModel):
    """Whether an application gets 三零, under which policy, and why (Chinese reasons)."""

    eligible: bool
    policy_code: str
    capacity_limit_kw: Decimal | None
    customer_type: CustomerType | None
    """The Annex 1 customer type when eligible (居民用户 or 实行“三零”服务的低压非居民用户)."""
    connection_voltage: VoltageClass | None
    """Low voltage when eligible; otherwise the supply plan decides."""
    zero_investment: bool
    investment_boundary: str | None
    whitelist: bool
    """Record the application on the whitelist (白名单) for a grid upgrade before connection."""
    reasons: list[str]


def assess_three_zero(
    request: ThreeZeroRequest,
    *,
    jurisdiction: str,
    on: date,
    policies: Sequence[ThreeZeroPolicy] | None = None,
) -> ThreeZeroDecision:
    """Decide 三零 for an application accepted on ``on`` in ``jurisdiction``."""
    policy = policy_in_force(jurisdiction, on, policies)
    whitelist_rule = load_three_zero_rules().whitelist
    limits = policy.limits_kw.get(request.category)
    if limits is None:
        return ThreeZeroDecision(
            eligible=False,
            policy_code=policy.code,
            capacity_limit_kw=None,
            customer_type=None,
            connection_voltage=None,
            zero_investment=False,
            investment_boundary=None,
            whitelist=False,
            reasons=["“三零”服务适用于居民用户和低压小微企业用户，该用户不在适用范围内。"],
        )
    limit = limits[request.area]
    area_name = "城市地区" if request.area is Area.urban else "农村地区"
    if request.capacity_kw > limit:
        return ThreeZeroDecision(
            eligible=False,
            policy_code=policy.code,
            capacity_limit_kw=limit,
            customer_type=None,
            connection_voltage=None,
            zero_investment=False,
            investment_boundary=None,
            whitelist=False,
            reasons=[
                f"报装容量{request.capacity_kw.normalize():f}千瓦超过{area_name}“三零”服务上限"
                f"{limit.normalize():f}千瓦（{policy.rule}）"
            ],
        )
    reasons = [
        f"报装容量{request.capacity_kw.normalize():f}千瓦不超过{area_name}上限"
        f"{limit.normalize():f}千瓦，实行“三零”服务，低压接入，{policy.investment_boundary}"
        f"（{policy.source}）"
    ]
    whitelist = request.capacity_limited or not request.in_grid_plan
    if whitelist:
        why = "接入容量超出可开放范围" if request.capacity_limited else "未纳入电网规划区域"
        if whitelist_rule.has_local_rule(jurisdiction):
            reasons.append(
                f"{why}，纳入“白名单”备案：{whitelist_rule.rule}"
                f"（{whitelist_rule.source_for(jurisdiction)}）"
            )
        else:
            reasons.append(f"{why}，记录待配套电网改造：{whitelist_rule.source_for(jurisdiction)}")
    return ThreeZeroDecision(
        eligible=True,
        policy_code=policy.code,
        capacity_limit_kw=limit,
        customer_type=(
            CustomerType.residential
            if request.category is CustomerCategory.residential
            else CustomerType.low_voltage_three_zero
        ),
        connection_voltage=VoltageClass.low,
        zero_investment=True,
        investment_boundary=policy.investment_boundary,
        whitelist=whitelist,
        reasons=reasons,
    )


FACT_CATEGORIES: dict[CustomerType, CustomerCategory] = {
    CustomerType.residential: CustomerCategory.residential,
    CustomerType.low_voltage_three_zero: CustomerCategory.small_micro_enterprise,
    CustomerType.low_voltage: CustomerCategory.small_micro_enterprise,
}
"""Who a new application is, as far as 三零 goes, from the facts given on acceptance.

A low-voltage non-residential customer is judged as a small or micro enterprise whether the
clerk typed it 实行“三零” or not: both plans make 三零 mandatory up to the limit, so it is not
the clerk's choice of type that decides. High-voltage types are not covered (三零 users connect
at low voltage). A customer who is not a small or micro enterprise is taken out by an override
with its reason (:func:`overridden`).
"""


def category_from_facts(customer_type: CustomerType) -> CustomerCategory:
    return FACT_CATEGORIES.get(customer_type, CustomerCategory.other)


def workflow_type(customer_type: CustomerType, eligible: bool) -> CustomerType:
    """The customer type whose stages and time limits an application follows once 三零 is
    decided: a low-voltage non-residential customer follows 实行“三零”服务的低压非居民用户
    exactly when it is eligible; residential and high-voltage types keep their own.

    >>> workflow_type(CustomerType.low_voltage, True)
    <CustomerType.low_voltage_three_zero: 'low_voltage_three_zero'>
    >>> workflow_type(CustomerType.low_voltage_three_zero, False)
    <CustomerType.low_voltage: 'low_voltage'>
    """
    if customer_type in (CustomerType.low_voltage, CustomerType.low_voltage_three_zero):
        return CustomerType.low_voltage_three_zero if eligible else CustomerType.low_voltage
    return customer_type


def overridden(
    decision: ThreeZeroDecision,
    request: ThreeZeroRequest,
    *,
    eligible: bool,
    reason: str,
    jurisdiction: str,
    on: date,
    policies: Sequence[ThreeZeroPolicy] | None = None,
) -> ThreeZeroDecision:
    """The decision a clerk's override (人工调整) makes of ``decision``, its reason recorded.

    The caller has checked that the override changes the outcome and has a reason.
    """
    note = f"经办人员调整“三零”判定为{'适用' if eligible else '不适用'}，理由：{reason}"
    if not eligible:
        return decision.model_copy(
            update={
                "eligible": False,
                "customer_type": None,
                "connection_voltage": None,
                "zero_investment": False,
                "investment_boundary": None,
                "whitelist": False,
                "reasons": [*decision.reasons, note],
            }
        )
    policy = policy_in_force(jurisdiction, on, policies)
    return decision.model_copy(
        update={
            "eligible": True,
            "customer_type": (
                CustomerType.residential
                if request.category is CustomerCategory.residential
                else CustomerType.low_voltage_three_zero
            ),
            "connection_voltage": VoltageClass.low,
            "zero_investment": True,
            "investment_boundary": policy.investment_boundary,
            "whitelist": request.capacity_limited or not request.in_grid_plan,
            "reasons": [*decision.reasons, note],
        }
    )
