"""The regulator's comparison (监管对比), computed live in SQL: one query per indicator, grouped
by the unit that accepted the application (受理单位), over the applications connected in the
period, with the same scope, median and P90 rules as the KPIs (services.intake.kpis.service).

Companies (供电单位) are the companies and branches of the group 各供电企业 in shared/units.json,
each counted for the applications it accepted itself (a county company's are not added to its
parent's), so that the rows add up to the city.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import and_, distinct, func, or_
from sqlalchemy import select as sa_select
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from services.intake.applications.models import Application, ApplicationStage
from services.intake.fees.models import ApplicationFee, FeeApproval
from services.intake.kpis import service as kpis
from services.intake.kpis.models import DaysFigures, StageFigures
from services.intake.kpis.service import KpiFilter, scope
from services.intake.regulator.models import (
    RANKING_RULE,
    CompanyFigures,
    Comparison,
    Period,
    Reliability,
    ReliabilityRow,
)
from shared import units
from shared.auth import Principal
from shared.db import fetch_all

CITY_GROUP = "各供电企业"
COMPANY_KINDS = (units.UnitKind.company, units.UnitKind.branch)
NO_FIGURES = DaysFigures(
    count=0, mean=None, median=None, p90=None, max=None, within_limit=0, within_limit_share=None
)


def companies() -> list[units.UnitEntry]:
    """The power-supply units of the city, in the order of the unit hierarchy."""
    below = set(units.covered([CITY_GROUP]))
    return [u for u in units.load_units().units if u.name in below and u.kind in COMPANY_KINDS]


async def comparison(
    session: AsyncSession,
    principal: Principal,
    year: int,
    period: Period,
    reliability: Reliability,
    outage_hours: Mapping[str, list[ReliabilityRow]],
    *,
    now: datetime,
) -> Comparison:
    """The figures of every company; ``reliability`` and ``outage_hours`` (per company) are
    notify's (:func:`services.intake.regulator.reliability.outage_hours`)."""
    start, end = period.bounds(year)
    conditions = scope(principal, KpiFilter(period_start=start, period_end=end))
    totals = await kpis.total_figures(session, conditions, col(Application.unit))
    stages = await kpis.stage_figures(session, conditions, col(Application.unit))
    procedures = await fetch_all(
        session,
        sa_select(
            col(Application.unit),
            func.count(col(ApplicationStage.id)),
            func.count(distinct(col(Application.id))),
        )
        .join(ApplicationStage, col(ApplicationStage.application_id) == col(Application.id))
        .where(*conditions)
        .group_by(col(Application.unit)),
    )
    limits = await fetch_all(
        session,
        sa_select(
            col(Application.unit),
            func.min(col(Application.total_limit_days)),
            func.max(col(Application.total_limit_days)),
        )
        .where(*conditions)
        .group_by(col(Application.unit)),
    )
    charged = and_(
        col(ApplicationFee.voided_at).is_(None),
        or_(
            col(ApplicationFee.approval).is_(None),
            col(ApplicationFee.approval) == FeeApproval.approved.value,
        ),
    )
    fees = await fetch_all(
        session,
        sa_select(col(Application.unit), func.sum(col(ApplicationFee.amount)))
        .join(ApplicationFee, col(ApplicationFee.application_id) == col(Application.id))
        .where(*conditions, charged)
        .group_by(col(Application.unit)),
    )
    return Comparison(
        year=year,
        period=period,
        period_label=period.label,
        period_start=start,
        period_end=end,
        generated_at=now,
        ranking_rule=RANKING_RULE,
        companies=_ranked(_assemble(totals, stages, procedures, limits, fees, outage_hours)),
        reliability=reliability,
    )


def _assemble(
    totals: dict[Any, tuple[int, DaysFigures]],
    stages: dict[Any, list[StageFigures]],
    procedures: Sequence[Any],
    limits: Sequence[Any],
    fees: Sequence[Any],
    outage_hours: Mapping[str, list[ReliabilityRow]],
) -> list[CompanyFigures]:
    procedures_by = {r[0]: (r[1], r[2]) for r in procedures}
    # The whole-process limit (全流程时限) each application was accepted under (policies'
    # reference.json); one figure per company only when all of them share it.
    limit_by = {r[0]: r[1] for r in limits if r[1] == r[2]}
    fees_by = {r[0]: Decimal(r[1] or 0).quantize(Decimal("0.01")) for r in fees}
    found = []
    for entry in companies():
        name = entry.name
        applications, total = totals.get(name, (0, NO_FIGURES))
        stage_count, with_stages = procedures_by.get(name, (0, 0))
        fees_total = fees_by.get(name, Decimal("0.00"))
        lineage = units.lineage(name)
        limit = limit_by.get(name)
        found.append(
            CompanyFigures(
                unit=name,
                kind=entry.kind.value,
                parent=lineage[1] if len(lineage) > 1 and lineage[1] != CITY_GROUP else None,
                applications=applications,
                procedures_mean=round(stage_count / with_stages, 2) if with_stages else None,
                total=total,
                total_limit_days=limit,
                total_meets_limit=(
                    total.mean <= limit if limit is not None and total.mean is not None else None
                ),
                stages=stages.get(name, []),
                fees_total=fees_total,
                fees_per_application=(
                    (fees_total / applications).quantize(Decimal("0.01")) if applications else None
                ),
                outage_hours=outage_hours.get(name, []),
            )
        )
    return found


def _ranked(found: list[CompanyFigures]) -> list[CompanyFigures]:
    """The 通报 order (RANKING_RULE): ties share a rank, the units without data come last."""
    with_data = [c for c in found if c.applications]

    def key(c: CompanyFigures) -> tuple[float, float, Decimal]:
        return (
            -(c.total.within_limit_share or 0.0),
            c.total.mean if c.total.mean is not None else 0.0,
            c.fees_per_application or Decimal(0),
        )

    with_data.sort(key=key)
    ranked: list[CompanyFigures] = []
    for i, company in enumerate(with_data):
        same = ranked and key(ranked[-1]) == key(company)
        rank = ranked[-1].rank if same else i + 1
        ranked.append(company.model_copy(update={"rank": rank}))
    return ranked + [c for c in found if not c.applications]
