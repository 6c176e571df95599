"""三零 decided again after a correction of the application's own facts (三零重新判定).

The decision taken on acceptance (:mod:`services.intake.whitelist.assess`) is kept as taken:
later changes to an area's capacity do not re-judge it. A correction of the application's own
facts — its capacity (capacity_kw) or its supply-area class (area_class) — does
(:func:`rejudge`): the 三零 policy in force on the day of acceptance decides again with the
corrected facts and the named area as it stands now; the new decision replaces the stored one
and is a ``three_zero_rejudged`` event of the stage log, whose payload keeps the earlier
decision, so the history stays in the log. When the new decision calls for the other
low-voltage workflow, the caller switches an open application to it
(:mod:`services.intake.applications.switch`); a clerk's recorded override is kept.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.intake.applications.log import append_event
from services.intake.applications.models import Application, ApplicationStatus, EventKind
from services.intake.rules.three_zero import (
    category_from_facts,
    load_three_zero_rules,
    workflow_type,
)
from services.intake.whitelist.assess import (
    Assessed,
    Override,
    decide,
    over_limit,
    whitelist_entry,
    with_override,
)
from services.intake.whitelist.models import (
    GridArea,
    ThreeZeroAssessment,
    WhitelistEntry,
    WhitelistStatus,
)
from shared.errors import FieldError, Unprocessable
from shared.vocab import CustomerType


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
    assessed = decide(
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
        assessed = with_override(
            assessed, kept, jurisdiction=application.jurisdiction, on=application.accepted_day
        )
    elif over_limit(declared, assessed):
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
        session.add(whitelist_entry(application, assessed, now=now))
        return {"from": "none", "to": WhitelistStatus.pending_upgrade.value}
    if not needed and entry is not None and entry.status is not WhitelistStatus.released:
        previous = entry.status
        entry.status = WhitelistStatus.released
        entry.released_at, entry.released_by = now, actor
        entry.release_note = "“三零”重新判定后无需配套电网改造"
        session.add(entry)
        return {"from": previous.value, "to": WhitelistStatus.released.value}
    return None
