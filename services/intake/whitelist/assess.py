"""The 三零 decision taken when an application is accepted, and its whitelist record (白名单).

Called by :func:`services.intake.applications.service.create_application`: :func:`assess`
before anything is written (its refusals join the other field errors of the request), then
:func:`record` once the application has its id. The decision itself is
:func:`services.intake.rules.three_zero.assess_three_zero`, under the 三零 policy of the
application's jurisdiction in force on the day of acceptance; this module only gathers its facts:

- the customer category from the customer type: 居民用户 → residential, 实行“三零”的低压非居民用户
  → small/micro enterprise, every other type → not covered;
- the area from the supply-area class: 中心区, 市区 and 城镇 are urban (城市地区), 农村 rural;
- capacity-limited (容量受限) when the named grid area is flagged so by staff, or when the
  requested capacity is more than the area's open capacity (kW against kVA at power factor 1,
  the least a load of that many kW needs); outside the grid plan when the area is flagged so.

The decision is kept as taken: later changes to an area's capacity do not re-judge it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy.orm import aliased
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.intake.applications.models import (
    Application,
    ApplicationCreate,
    AreaClass,
)
from services.intake.policies.models import CustomerType
from services.intake.rules.identity import FieldErrors
from services.intake.rules.three_zero import (
    Area,
    CustomerCategory,
    ThreeZeroDecision,
    ThreeZeroRequest,
    assess_three_zero,
)
from services.intake.whitelist.models import (
    WHITELIST_STATUS_LABELS,
    GridArea,
    ThreeZeroAssessment,
    ThreeZeroPublic,
    WhitelistEntry,
    WhitelistStatus,
)
from shared.errors import Unprocessable

AREA_OF_CLASS = {
    AreaClass.central: Area.urban,
    AreaClass.urban: Area.urban,
    AreaClass.town: Area.urban,
    AreaClass.rural: Area.rural,
}
CATEGORY_OF_TYPE = {
    CustomerType.residential: CustomerCategory.residential,
    CustomerType.low_voltage_three_zero: CustomerCategory.small_micro_enterprise,
}
NO_POLICY = "three_zero_policy_not_in_force"


@dataclass(frozen=True)
class Assessed:
    """The facts and the decision, before anything is stored."""

    request: ThreeZeroRequest
    decision: ThreeZeroDecision | None
    """None when no 三零 policy of the jurisdiction was in force on the day."""
    grid_area: GridArea | None
    reasons: list[str]


async def find_grid_area(session: AsyncSession, unit: str, name: str) -> GridArea | None:
    query = select(GridArea).where(col(GridArea.unit) == unit, col(GridArea.name) == name.strip())
    return (await session.exec(query)).first()


def _area_reason(area: GridArea, capacity_kw: Decimal) -> str | None:
    if not area.in_grid_plan:
        return f"配电网区域“{area.name}”未纳入电网规划。"
    if area.capacity_limited:
        return f"配电网区域“{area.name}”容量受限（可开放容量{area.available_kva}千伏安）。"
    if area.available_kva < capacity_kw:
        return (
            f"报装容量{capacity_kw}千瓦超过配电网区域“{area.name}”"
            f"可开放容量{area.available_kva}千伏安。"
        )
    return None


async def assess(
    session: AsyncSession, data: ApplicationCreate, today: date, errors: FieldErrors
) -> Assessed:
    """Decide 三零 for ``data`` accepted on ``today``; refusals are added to ``errors``.

    Refused: a grid area the unit does not have (``grid_area_unknown``), and a customer typed as
    实行“三零”的低压非居民用户 whom the policy in force does not cover (``three_zero_over_limit``).
    """
    area: GridArea | None = None
    if data.site.grid_area is not None:
        area = await find_grid_area(session, data.unit, data.site.grid_area)
        if area is None:
            errors.add(
                "site.grid_area",
                "grid_area_unknown",
                f"{data.unit}没有名为“{data.site.grid_area.strip()}”的配电网区域",
            )
    area_reason = _area_reason(area, data.capacity_kw) if area is not None else None
    request = ThreeZeroRequest(
        category=CATEGORY_OF_TYPE.get(data.customer_type, CustomerCategory.other),
        capacity_kw=data.capacity_kw,
        area=AREA_OF_CLASS[data.site.area_class],
        capacity_limited=area is not None
        and area.in_grid_plan
        and (area.capacity_limited or data.capacity_kw > area.available_kva),
        in_grid_plan=area is None or area.in_grid_plan,
    )
    try:
        decision: ThreeZeroDecision | None = assess_three_zero(
            request, jurisdiction=data.jurisdiction, on=today
        )
    except Unprocessable as exc:
        if exc.code != NO_POLICY:
            raise
        decision = None
    if decision is None:
        reasons = [f"受理之日（{today.isoformat()}）本地区尚无施行中的“三零”零投资政策。"]
    else:
        reasons = list(decision.reasons)
        if decision.whitelist and area_reason:
            reasons.insert(1, area_reason)
    three_zero_type = data.customer_type is CustomerType.low_voltage_three_zero
    over_limit = decision is not None and not decision.eligible
    if three_zero_type and over_limit and not any(e.field == "capacity_kw" for e in errors.errors):
        errors.add("capacity_kw", "three_zero_over_limit", reasons[0])
    return Assessed(request, decision, area, reasons)


def record(
    session: AsyncSession, application: Application, assessed: Assessed, *, now: datetime
) -> None:
    """Store the decision of a new application, and its whitelist record if it needs one."""
    assert application.id is not None
    decision = assessed.decision
    area = assessed.grid_area
    session.add(
        ThreeZeroAssessment(
            application_id=application.id,
            policy_code=decision.policy_code if decision else None,
            category=assessed.request.category,
            area=assessed.request.area,
            grid_area_id=area.id if area else None,
            capacity_limited=assessed.request.capacity_limited,
            in_grid_plan=assessed.request.in_grid_plan,
            eligible=bool(decision and decision.eligible),
            zero_investment=bool(decision and decision.zero_investment),
            capacity_limit_kw=decision.capacity_limit_kw if decision else None,
            whitelist=bool(decision and decision.whitelist),
            reasons=assessed.reasons,
            assessed_at=now,
        )
    )
    if decision is not None and decision.whitelist:
        session.add(
            WhitelistEntry(
                application_id=application.id,
                unit=application.unit,
                grid_area_id=area.id if area else None,
                reason="".join(assessed.reasons[1:]),
                status=WhitelistStatus.pending_upgrade,
                created_at=now,
            )
        )


async def zero_investment(session: AsyncSession, application_id: int | None) -> bool:
    """Whether the application was judged zero-investment (零投资) when accepted."""
    query = select(ThreeZeroAssessment.zero_investment).where(
        col(ThreeZeroAssessment.application_id) == application_id
    )
    return bool((await session.exec(query)).first())


async def three_zero_of(
    session: AsyncSession, application_id: int | None
) -> ThreeZeroPublic | None:
    """The stored decision with its area and whitelist state; None for an application accepted
    before decisions were recorded."""
    area = aliased(GridArea)
    query = (
        select(ThreeZeroAssessment, area, WhitelistEntry)
        .outerjoin(area, col(area.id) == col(ThreeZeroAssessment.grid_area_id))
        .outerjoin(
            WhitelistEntry,
            col(WhitelistEntry.application_id) == col(ThreeZeroAssessment.application_id),
        )
        .where(col(ThreeZeroAssessment.application_id) == application_id)
    )
    row = (await session.exec(query)).first()
    if row is None:
        return None
    assessment, grid_area, entry = row
    return ThreeZeroPublic(
        policy_code=assessment.policy_code,
        eligible=assessment.eligible,
        zero_investment=assessment.zero_investment,
        capacity_limit_kw=assessment.capacity_limit_kw,
        grid_area=grid_area.name if grid_area else None,
        capacity_limited=assessment.capacity_limited,
        whitelist=assessment.whitelist,
        whitelist_status=entry.status if entry else None,
        whitelist_status_label=WHITELIST_STATUS_LABELS[entry.status] if entry else None,
        reasons=assessment.reasons,
        assessed_at=assessment.assessed_at,
    )
