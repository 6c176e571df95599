"""What the public reads without signing in (信息公开): the disclosure and the grid capacity."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from pydantic import BaseModel
from pydantic import Field as DataField

from services.intake.rules.disclosure import Disclosure
from shared.timeutil import BeijingTime


class ThreeZeroLimit(BaseModel):
    category: str
    category_label: str
    urban_kw: Decimal = DataField(description="城市地区上限（千瓦）")
    rural_kw: Decimal = DataField(description="农村地区上限（千瓦）")


class ThreeZeroDisclosure(BaseModel):
    """The 三零 policy in force (“三零”服务政策)."""

    policy_code: str
    title: str
    rule: str
    source: str
    effective_from: date
    limits: list[ThreeZeroLimit]
    investment_boundary: str
    whitelist_rule: str
    whitelist_source: str = DataField(
        description="白名单规则在本地区的出处，或本地区没有此规定的说明"
    )


class PublicDisclosure(Disclosure):
    """The disclosure of one jurisdiction on a day, with its 三零 policy if one is in force."""

    as_of: date
    three_zero: ThreeZeroDisclosure | None


class PublicArea(BaseModel):
    unit: str
    name: str
    available_kva: Decimal = DataField(description="可开放容量（千伏安）")
    capacity_limited: bool
    in_grid_plan: bool
    status_label: str
    updated_at: BeijingTime


class CapacityDisclosure(BaseModel):
    """配电网接入能力及容量受限情况."""

    title: str
    rule: str
    source: str
    whitelist_rule: str
    areas: list[PublicArea]
    limited_areas: list[PublicArea] = DataField(
        description="容量受限或未纳入电网规划的区域: small enterprises there go on the whitelist"
    )
