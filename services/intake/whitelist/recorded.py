"""The stored 三零 decision of an application, read back (written by
:mod:`services.intake.whitelist.assess` and :mod:`services.intake.whitelist.rejudge`)."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy.orm import aliased
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.intake.whitelist.models import (
    WHITELIST_STATUS_LABELS,
    GridArea,
    ThreeZeroAssessment,
    ThreeZeroOverridePublic,
    ThreeZeroPublic,
    WhitelistEntry,
)
from shared.vocab import CustomerType


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


_CENT = Decimal("0.01")


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
    return public_decision(assessment, grid_area, entry)


def public_decision(
    assessment: ThreeZeroAssessment, grid_area: GridArea | None, entry: WhitelistEntry | None
) -> ThreeZeroPublic:
    """The decision as the API shows it, from its rows (read back, or just written)."""
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
