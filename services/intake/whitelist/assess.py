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

The decision is kept as taken: later changes to an area's capacity do not re-judge it. A
correction of the application's own facts — its capacity (capacity_kw) or its supply-area class
(area_class) — does (:func:`rejudge`): the 三零 policy in force on the day of acceptance decides
again with the corrected facts and the named area as it stands now; the new decision replaces the
stored one and is a ``three_zero_rejudged`` event of the stage log, whose payload keeps the
earlier decision, so the history stays in the log. When the new decision calls for the other
low-voltage workflow, the caller switches an open application to it
(:mod:`services.intake.applications.switch`); a clerk's recorded override is kept.

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
from typing import Any

from sqlalchemy.orm import aliased
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.intake.applications.log import append_event
from services.intake.applications.models import (
    Application,
    ApplicationCreate,
    ApplicationStatus,
    EventKind,
)
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
    WHITELIST_STATUS_LABELS,
    GridArea,
    ThreeZeroAssessment,
    ThreeZeroOverridePublic,
    ThreeZeroPublic,
    WhitelistEntry,
    WhitelistStatus,
)
from shared.errors import FieldError, Unprocessable
from shared.vocab import AreaClass, CustomerType

AREA_OF_CLASS = {
    AreaClass.central: Area.urban,
    AreaClass.urban: Area.urban,
    AreaClass.town: Area.urban,
    AreaClass.rural: Area.rural,
}
NO_POLICY = "three_zero_policy_not_in_force"
_CENT = Decimal("0.01")


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


def _decide(
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


def _over_limit(customer_type: CustomerType, assessed: Assessed) -> bool:
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
    assessed = _decide(
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
        assessed = _overridden(assessed, override, jurisdiction=data.jurisdiction, on=today)
    elif (
        data.three_zero_override is None
        and _over_limit(declared, assessed)
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


def _overridden(assessed: Assessed, override: Override, *, jurisdiction: str, on: date) -> Assessed:
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
        entry = _new_entry(application, assessed, now)
        session.add(entry)
    return _public(stored, area, entry)


def _new_entry(application: Application, assessed: Assessed, now: datetime) -> WhitelistEntry:
    """The whitelist record (白名单) a decision calls for, waiting for the grid upgrade."""
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


def _summary(
    policy_code: str | None,
    eligible: bool,
    zero: bool,
    limit: Decimal | None,
    whitelist: bool,
    reasons: list[str],
) -> dict[str, Any]:
    return {
        "policy": policy_code,
        "eligible": eligible,
        "zero_investment": zero,
        "capacity_limit_kw": str(limit) if limit is not None else None,
        "whitelist": whitelist,
        "reasons": reasons,
    }


def _kept_override(stored: ThreeZeroAssessment | None, assessed: Assessed) -> Override | None:
    """The override recorded on acceptance, when the new decision would undo it."""
    if (
        stored is None
        or stored.override_eligible is None
        or assessed.decision is None
        or assessed.decision.eligible == stored.override_eligible
    ):
        return None
    return Override(
        eligible=stored.override_eligible,
        reason=stored.override_reason or "",
        actor=stored.overridden_by or "",
    )


async def rejudge(
    session: AsyncSession,
    application: Application,
    *,
    trigger: str,
    actor: str,
    reason: str,
    now: datetime,
) -> CustomerType:
    """Decide 三零 again after ``trigger`` (capacity_kw or area_class) was corrected; returns the
    customer type whose workflow the new decision calls for (the caller switches to it:
    :mod:`services.intake.applications.switch`).

    The facts decide as on acceptance: a low-voltage non-residential customer is judged as a
    small or micro enterprise whichever low-voltage type it follows, by the policy in force on
    the day of acceptance. A clerk's recorded override is kept. Refused like acceptance, 422
    ``three_zero_over_limit`` on the field ``value``, when a customer the clerk typed (declared)
    as 实行“三零”的低压非居民用户 is no longer covered; one entered as 未实行“三零” whom the facts
    made 三零 goes back to the standard low-voltage workflow instead. The whitelist follows an open
    application: a record is opened when the new decision needs one, and a record still waiting
    is released (已转入报装接电, noted as a re-judgement) when it no longer does.
    """
    assert application.id is not None
    stored = (
        await session.exec(
            select(ThreeZeroAssessment)
            .where(col(ThreeZeroAssessment.application_id) == application.id)
            .with_for_update()
        )
    ).first()
    area = (
        await session.get(GridArea, stored.grid_area_id)
        if stored is not None and stored.grid_area_id is not None
        else None
    )
    declared = (
        stored.declared_customer_type
        if stored is not None and stored.declared_customer_type is not None
        else application.customer_type
    )
    assessed = _decide(
        category_from_facts(declared),
        application.capacity_kw,
        application.area_class,
        area,
        jurisdiction=application.jurisdiction,
        on=application.accepted_day,
    )
    kept = _kept_override(stored, assessed)
    ceiling = load_three_zero_rules().ceiling.limit_kw
    if kept is not None and kept.eligible and application.capacity_kw > ceiling:
        message = f"经办人员调整为适用“三零”的申请，报装容量不能超过{ceiling.normalize():f}千瓦"
        raise Unprocessable(
            message,
            code="three_zero_over_160kw",
            errors=[FieldError(field="value", code="three_zero_over_160kw", message=message)],
        )
    if kept is not None:
        assessed = _overridden(
            assessed, kept, jurisdiction=application.jurisdiction, on=application.accepted_day
        )
    elif _over_limit(declared, assessed):
        raise Unprocessable(
            assessed.reasons[0],
            code="three_zero_over_limit",
            errors=[
                FieldError(field="value", code="three_zero_over_limit", message=assessed.reasons[0])
            ],
        )
    decision = assessed.decision
    earlier = (
        _summary(
            stored.policy_code,
            stored.eligible,
            stored.zero_investment,
            stored.capacity_limit_kw,
            stored.whitelist,
            stored.reasons,
        )
        if stored is not None
        else None
    )
    if stored is None:
        stored = ThreeZeroAssessment(
            application_id=application.id,
            category=assessed.request.category,
            area=assessed.request.area,
            capacity_limited=False,
            in_grid_plan=True,
            eligible=False,
            zero_investment=False,
            whitelist=False,
            reasons=[],
            assessed_at=now,
        )
    stored.policy_code = decision.policy_code if decision else None
    stored.category, stored.area = assessed.request.category, assessed.request.area
    stored.capacity_limited = assessed.request.capacity_limited
    stored.in_grid_plan = assessed.request.in_grid_plan
    stored.eligible = bool(decision and decision.eligible)
    stored.zero_investment = bool(decision and decision.zero_investment)
    stored.capacity_limit_kw = decision.capacity_limit_kw if decision else None
    stored.whitelist = bool(decision and decision.whitelist)
    stored.reasons = assessed.stored_reasons
    stored.assessed_at = now
    applied = workflow_type(application.customer_type, stored.eligible)
    stored.declared_customer_type = declared if declared is not applied else None
    session.add(stored)
    whitelist_change = await _follow_whitelist(session, application, assessed, actor=actor, now=now)
    payload: dict[str, Any] = {
        "trigger": trigger,
        "from": earlier,
        "to": _summary(
            stored.policy_code,
            stored.eligible,
            stored.zero_investment,
            stored.capacity_limit_kw,
            stored.whitelist,
            stored.reasons,
        ),
    }
    if whitelist_change is not None:
        payload["whitelist"] = whitelist_change
    append_event(
        session,
        application,
        EventKind.three_zero_rejudged,
        now=now,
        actor=actor,
        stage=application.current_stage,
        reason=reason,
        payload=payload,
    )
    return applied


async def _follow_whitelist(
    session: AsyncSession,
    application: Application,
    assessed: Assessed,
    *,
    actor: str,
    now: datetime,
) -> dict[str, str] | None:
    """Open or release the whitelist record of an open application to match the new decision;
    what changed, or None."""
    if application.status not in (ApplicationStatus.open, ApplicationStatus.paused):
        return None
    assert application.id is not None
    entry = (
        await session.exec(
            select(WhitelistEntry)
            .where(col(WhitelistEntry.application_id) == application.id)
            .with_for_update()
        )
    ).first()
    needed = bool(assessed.decision and assessed.decision.whitelist)
    if needed and entry is None:
        session.add(_new_entry(application, assessed, now))
        return {"from": "none", "to": WhitelistStatus.pending_upgrade.value}
    if not needed and entry is not None and entry.status is not WhitelistStatus.released:
        previous = entry.status
        entry.status = WhitelistStatus.released
        entry.released_at, entry.released_by = now, actor
        entry.release_note = "“三零”重新判定后无需配套电网改造"
        session.add(entry)
        return {"from": previous.value, "to": WhitelistStatus.released.value}
    return None


async def declared_type(session: AsyncSession, application_id: int | None) -> CustomerType | None:
    """The customer type entered on acceptance when the 三零 decision made it follow another
    workflow; None when it follows the type entered (or no decision was recorded)."""
    query = select(ThreeZeroAssessment.declared_customer_type).where(
        col(ThreeZeroAssessment.application_id) == application_id
    )
    value = (await session.exec(query)).first()
    return CustomerType(value) if value is not None else None


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
    return _public(assessment, grid_area, entry)


def _public(
    assessment: ThreeZeroAssessment, grid_area: GridArea | None, entry: WhitelistEntry | None
) -> ThreeZeroPublic:
    limit = assessment.capacity_limit_kw
    return ThreeZeroPublic(
        policy_code=assessment.policy_code,
        eligible=assessment.eligible,
        zero_investment=assessment.zero_investment,
        # At the column's scale, as read back (a rule's 160 is stored as 160.00).
        capacity_limit_kw=limit.quantize(_CENT) if limit is not None else None,
        grid_area=grid_area.name if grid_area else None,
        capacity_limited=assessment.capacity_limited,
        whitelist=assessment.whitelist,
        whitelist_status=entry.status if entry else None,
        whitelist_status_label=WHITELIST_STATUS_LABELS[entry.status] if entry else None,
        reasons=assessment.reasons,
        assessed_at=assessment.assessed_at,
        declared_customer_type=assessment.declared_customer_type,
        override=(
            ThreeZeroOverridePublic(
                eligible_by_facts=not assessment.override_eligible,
                eligible=assessment.override_eligible,
                reason=assessment.override_reason or "",
                overridden_by=assessment.overridden_by or "",
                overridden_at=assessment.overridden_at,
            )
            if assessment.override_eligible is not None and assessment.overridden_at is not None
            else None
        ),
    )
