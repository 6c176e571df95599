"""Building the public disclosure (信息公开) from the policies in force and the staff's data."""

from __future__ import annotations

from datetime import date

from sqlmodel.ext.asyncio.session import AsyncSession

from services.intake.disclosure.models import (
    CapacityDisclosure,
    PublicArea,
    PublicDisclosure,
    ThreeZeroDisclosure,
    ThreeZeroLimit,
)
from services.intake.policies.service import version_in_force
from services.intake.rules.disclosure import build_disclosure, load_disclosure_texts
from services.intake.rules.three_zero import (
    Area,
    CustomerCategory,
    load_three_zero_rules,
    policy_in_force,
)
from services.intake.whitelist.models import status_of
from services.intake.whitelist.service import list_areas
from shared.errors import Unprocessable

CATEGORY_LABELS = {
    CustomerCategory.residential: "居民用户",
    CustomerCategory.small_micro_enterprise: "小微企业等低压非居民用户",
}


def _three_zero(jurisdiction: str, on: date) -> ThreeZeroDisclosure | None:
    try:
        policy = policy_in_force(jurisdiction, on)
    except Unprocessable as exc:
        if exc.code != "three_zero_policy_not_in_force":
            raise
        return None
    whitelist = load_three_zero_rules().whitelist
    return ThreeZeroDisclosure(
        policy_code=policy.code,
        title=policy.title,
        rule=policy.rule,
        source=policy.source,
        effective_from=policy.effective_from,
        limits=[
            ThreeZeroLimit(
                category=category.value,
                category_label=CATEGORY_LABELS[category],
                urban_kw=limits[Area.urban],
                rural_kw=limits[Area.rural],
            )
            for category, limits in policy.limits_kw.items()
        ],
        investment_boundary=policy.investment_boundary,
        whitelist_rule=whitelist.rule_for(jurisdiction, whitelist.rule),
        whitelist_source=whitelist.source_for(jurisdiction),
    )


async def disclosure(session: AsyncSession, jurisdiction: str, on: date) -> PublicDisclosure:
    """Processes, limits, documents, fees, channels and hotlines under the policy in force."""
    policy = await version_in_force(session, jurisdiction, on)
    return PublicDisclosure(
        **build_disclosure(policy).model_dump(),
        as_of=on,
        three_zero=_three_zero(jurisdiction, on),
    )


async def capacity(session: AsyncSession, unit: str | None = None) -> CapacityDisclosure:
    """The open capacity of every area staff keep, and the capacity-limited ones."""
    areas = [
        PublicArea(
            unit=a.unit,
            name=a.name,
            available_kva=a.available_kva,
            capacity_limited=a.capacity_limited,
            in_grid_plan=a.in_grid_plan,
            status_label=status_of(a),
            updated_at=a.updated_at,
        )
        for a in await list_areas(session, unit)
    ]
    texts = load_disclosure_texts()
    return CapacityDisclosure(
        title="配电网接入能力及容量受限情况",
        # Areas of every jurisdiction are listed: each plan's own words on it are cited.
        rule="；".join(local.rule for local in texts.jurisdictions.values()),
        source="；".join(
            local.cite(local.source) or local.plan for local in texts.jurisdictions.values()
        ),
        whitelist_rule=load_three_zero_rules().whitelist.rule,
        areas=areas,
        limited_areas=[a for a in areas if a.capacity_limited or not a.in_grid_plan],
    )
