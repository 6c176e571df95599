"""The 三零 decision taken when an application is accepted, and its whitelist record (白名单).

Called by :func:`services.intake.flows.service.accept_application`: :func:`assess`
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

The decision is kept as taken: later changes to an area's capacity do not re-judge it; a
correction of the application's own facts does (:mod:`services.intake.whitelist.rejudge`). The
stored decision is read back by :mod:`services.intake.whitelist.recorded`.

On acceptance the facts decide, not the type the clerk picked: a low-voltage non-residential
customer within the limit of the policy in force gets 三零 and its workflow (the stages and time
limits of 实行“三零”服务的低压非居民用户) even when entered as 未实行“三零”; one above it follows
the other low-voltage workflow. A clerk may override the decision (``three_zero_override``) only
with a reason: the override, who, why and when are stored with the decision, shown in its answer
and are a ``three_zero_overridden`` event of the stage log.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime
from decimal import Decimal

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.intake.applications.log import append_event
from services.intake.applications.models import Application, EventKind
from services.intake.applications.requests import ApplicationCreate
from services.intake.policies.models import LOW_VOLTAGE_TYPES
from services.intake.rules.identity import FieldErrors
from services.intake.rules.three_zero import (
    Area,
    CustomerCategory,
    ThreeZeroDecision,
    ThreeZeroRequest,
    assess_three_zero,
    category_from_facts,
    load_three_zero_rules,
    overridden,
    workflow_type,
)
from services.intake.whitelist.models import (
    GridArea,
    ThreeZeroAssessment,
    ThreeZeroPublic,
    WhitelistEntry,
    WhitelistStatus,
)
from services.intake.whitelist.recorded import public_decision
from shared.errors import Unprocessable
from shared.vocab import AreaClass, CustomerType

AREA_OF_CLASS = {
    AreaClass.central: Area.urban,
    AreaClass.urban: Area.urban,
    AreaClass.town: Area.urban,
    AreaClass.rural: Area.rural,
}
NO_POLICY = "three_zero_policy_not_in_force"


@dataclass(frozen=True)
class Override:
    """A clerk's override of the facts' decision, as taken on acceptance."""

    eligible: bool
    reason: str
    actor: str


@dataclass(frozen=True)
class Assessed:
    """The facts and the decision, before anything is stored."""

    request: ThreeZeroRequest
    decision: ThreeZeroDecision | None
    """None when no 三零 policy of the jurisdiction was in force on the day."""
    grid_area: GridArea | None
    reasons: list[str]
    customer_type: CustomerType | None = None
    """The workflow the application follows (set on acceptance: :func:`assess`)."""
    declared_customer_type: CustomerType | None = None
    """The type entered, when it is not :attr:`customer_type`."""
    override: Override | None = None
    notes: tuple[str, ...] = ()
    """What the workflow and an override add to the reasons (kept after them)."""

    @property
    def stored_reasons(self) -> list[str]:
        return [*self.reasons, *self.notes]


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


def decide(
    category: CustomerCategory,
    capacity_kw: Decimal,
    area_class: AreaClass,
    area: GridArea | None,
    *,
    jurisdiction: str,
    on: date,
) -> Assessed:
    """Gather the facts of an application and decide 三零 by the policy in force ``on``."""
    area_reason = _area_reason(area, capacity_kw) if area is not None else None
    request = ThreeZeroRequest(
        category=category,
        capacity_kw=capacity_kw,
        area=AREA_OF_CLASS[area_class],
        capacity_limited=area is not None
        and area.in_grid_plan
        and (area.capacity_limited or capacity_kw > area.available_kva),
        in_grid_plan=area is None or area.in_grid_plan,
    )
    try:
        decision: ThreeZeroDecision | None = assess_three_zero(
            request, jurisdiction=jurisdiction, on=on
        )
    except Unprocessable as exc:
        if exc.code != NO_POLICY:
            raise
        decision = None
    if decision is None:
        reasons = [f"受理之日（{on.isoformat()}）本地区尚无施行中的“三零”零投资政策。"]
    else:
        reasons = list(decision.reasons)
        if decision.whitelist and area_reason:
            reasons.insert(1, area_reason)
    return Assessed(request, decision, area, reasons)


def over_limit(customer_type: CustomerType, assessed: Assessed) -> bool:
    """A customer typed as 实行“三零”的低压非居民用户 whom the policy in force does not cover."""
    return (
        customer_type is CustomerType.low_voltage_three_zero
        and assessed.decision is not None
        and not assessed.decision.eligible
    )


async def assess(
    session: AsyncSession, data: ApplicationCreate, today: date, errors: FieldErrors, *, actor: str
) -> Assessed:
    """Decide 三零 for ``data`` accepted on ``today``; refusals are added to ``errors``.

    Refused: a grid area the unit does not have (``grid_area_unknown``), a customer typed as
    实行“三零”的低压非居民用户 whom the policy in force does not cover (``three_zero_over_limit``),
    and an override without a reason (``three_zero_override_reason_required``), that changes
    nothing (``three_zero_override_not_needed``), that would give 三零 to a high-voltage customer
    (``three_zero_override_not_low_voltage``) or above the ceiling (``three_zero_over_160kw``),
    or with no policy in force (``three_zero_policy_not_in_force``). ``actor`` is the clerk.
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
    declared = data.customer_type
    assessed = decide(
        category_from_facts(declared),
        data.capacity_kw,
        data.site.area_class,
        area,
        jurisdiction=data.jurisdiction,
        on=today,
    )
    override = None
    if data.three_zero_override is not None:
        override = _checked_override(data, assessed, errors, actor=actor)
    if override is not None:
        assessed = with_override(assessed, override, jurisdiction=data.jurisdiction, on=today)
    elif (
        data.three_zero_override is None
        and over_limit(declared, assessed)
        and not any(e.field == "capacity_kw" for e in errors.errors)
    ):
        errors.add("capacity_kw", "three_zero_over_limit", assessed.reasons[0])
    eligible = bool(assessed.decision and assessed.decision.eligible)
    applied = workflow_type(declared, eligible)
    notes = assessed.notes
    if applied is not declared:
        notes = (
            *notes,
            f"申报用户类型为“{declared.label}”，按“三零”判定结果"
            f"按“{applied.label}”的环节和时限办理。",
        )
    return replace(
        assessed,
        notes=notes,
        customer_type=applied,
        declared_customer_type=declared if applied is not declared else None,
        override=override,
    )


def _checked_override(
    data: ApplicationCreate, assessed: Assessed, errors: FieldErrors, *, actor: str
) -> Override | None:
    """The clerk's override if it may be taken; otherwise its refusal is added to ``errors``."""
    assert data.three_zero_override is not None
    wanted = data.three_zero_override.eligible
    reason = (data.three_zero_override.reason or "").strip()
    field = "three_zero_override"
    ceiling = load_three_zero_rules().ceiling
    if not reason:
        errors.add(
            f"{field}.reason",
            "three_zero_override_reason_required",
            "调整“三零”判定须填写理由，理由与调整人、调整时间一并记录",
        )
    elif assessed.decision is None:
        errors.add(f"{field}.eligible", NO_POLICY, assessed.reasons[0])
    elif assessed.decision.eligible == wanted:
        errors.add(
            f"{field}.eligible",
            "three_zero_override_not_needed",
            f"按申请事实已判定为{'适用' if wanted else '不适用'}“三零”服务，无需调整",
        )
    elif wanted and data.customer_type not in LOW_VOLTAGE_TYPES:
        errors.add(
            f"{field}.eligible",
            "three_zero_override_not_low_voltage",
            "“三零”服务用户采取低压方式接入电网，高压用户不能调整为适用“三零”",
        )
    elif wanted and data.capacity_kw > ceiling.limit_kw:
        errors.add(
            f"{field}.eligible",
            "three_zero_over_160kw",
            f"“三零”服务适用于报装容量{ceiling.limit_kw.normalize():f}千瓦及以下的用户"
            f"（{ceiling.rule}；{ceiling.source_for(data.jurisdiction)}）",
        )
    else:
        return Override(eligible=wanted, reason=reason, actor=actor)
    return None


def with_override(
    assessed: Assessed, override: Override, *, jurisdiction: str, on: date
) -> Assessed:
    assert assessed.decision is not None
    decision = overridden(
        assessed.decision,
        assessed.request,
        eligible=override.eligible,
        reason=override.reason,
        jurisdiction=jurisdiction,
        on=on,
    )
    return replace(assessed, decision=decision, notes=(*assessed.notes, decision.reasons[-1]))


def record(
    session: AsyncSession, application: Application, assessed: Assessed, *, now: datetime
) -> ThreeZeroPublic:
    """Store the decision of a new application, and its whitelist record if it needs one;
    returns the decision as :func:`three_zero_of` will read it back."""
    assert application.id is not None
    decision = assessed.decision
    area = assessed.grid_area
    stored = ThreeZeroAssessment(
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
        reasons=assessed.stored_reasons,
        assessed_at=now,
        declared_customer_type=assessed.declared_customer_type,
        override_eligible=assessed.override.eligible if assessed.override else None,
        override_reason=assessed.override.reason if assessed.override else None,
        overridden_by=assessed.override.actor if assessed.override else None,
        overridden_at=now if assessed.override else None,
    )
    session.add(stored)
    if assessed.override is not None:
        append_event(
            session,
            application,
            EventKind.three_zero_overridden,
            now=now,
            actor=assessed.override.actor,
            stage=application.current_stage,
            reason=assessed.override.reason,
            payload={
                "policy": decision.policy_code if decision else None,
                "eligible_by_facts": not assessed.override.eligible,
                "eligible": assessed.override.eligible,
                "declared_customer_type": (
                    assessed.declared_customer_type or application.customer_type
                ).value,
                "customer_type": application.customer_type.value,
            },
        )
    entry = None
    if decision is not None and decision.whitelist:
        entry = whitelist_entry(application, assessed, now=now)
        session.add(entry)
    return public_decision(stored, area, entry)


def whitelist_entry(
    application: Application, assessed: Assessed, *, now: datetime
) -> WhitelistEntry:
    """The whitelist record (白名单) a decision that needs one opens: waiting for the upgrade."""
    assert application.id is not None
    area = assessed.grid_area
    return WhitelistEntry(
        application_id=application.id,
        unit=application.unit,
        grid_area_id=area.id if area else None,
        reason="".join(assessed.reasons[1:]),
        status=WhitelistStatus.pending_upgrade,
        created_at=now,
    )
