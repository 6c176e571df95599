"""The KPIs computed in SQL: counts, means, medians and 90th percentiles with window functions
(portable to SQLite and PostgreSQL), over the applications connected in a period.

Median: the mean of the middle one or two values; P90: nearest rank, the value at rank
⌈0.9·n⌉. Only connected applications count (a closed one never finished); their stage and
total times were recomputed from the facts whenever the calendar or the policy changed.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import ColumnElement, case, distinct, func
from sqlalchemy import select as sa_select
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from services.intake.access import check_unit_filter
from services.intake.applications import clock
from services.intake.applications.models import (
    Application,
    ApplicationPause,
    ApplicationStage,
    ApplicationStatus,
)
from services.intake.kpis.models import (
    DaysFigures,
    KpiReport,
    StageFigures,
    TypeFigures,
    WorstCase,
)
from services.intake.policies.models import STAGE_LABELS, Stage
from shared import units
from shared.auth import Principal, Role
from shared.calendar import WorkingCalendar
from shared.db import fetch_all
from shared.errors import Unprocessable
from shared.vocab import CustomerType

WORST_CASES = 5


@dataclass(frozen=True)
class KpiFilter:
    period_start: date
    period_end: date
    jurisdiction: str | None = None
    unit: str | None = None


def scope(principal: Principal, flt: KpiFilter) -> list[ColumnElement[bool]]:
    if flt.period_end < flt.period_start:
        raise Unprocessable("the period ends before it starts", code="invalid_period")
    conditions = [
        col(Application.status) == ApplicationStatus.connected.value,
        col(Application.ended_day) >= flt.period_start,
        col(Application.ended_day) <= flt.period_end,
    ]
    if principal.role is Role.clerk:
        check_unit_filter(principal, flt.unit)
        conditions.append(col(Application.unit).in_(units.covered(principal.units)))
    elif principal.role is Role.supervisor:
        conditions.append(col(Application.supervising_unit).in_(units.covered(principal.units)))
    if flt.jurisdiction is not None:
        conditions.append(col(Application.jurisdiction) == flt.jurisdiction)
    if flt.unit is not None:
        conditions.append(col(Application.unit).in_(units.covered([flt.unit])))
    return conditions


def figures_query(
    rows: Any, value: Any, within: Any, keys: Sequence[Any], extra: Sequence[Any] = ()
) -> Any:
    """Per group of ``keys``: count, mean, median, P90, max and within-limit count of ``value``."""
    ranked = (
        sa_select(
            *keys,
            value.label("value"),
            within.label("within"),
            *extra,
            func.row_number().over(partition_by=list(keys), order_by=value).label("rn"),
            func.count().over(partition_by=list(keys)).label("n"),
        )
        .select_from(rows)
        .subquery("ranked")
    )
    rn, n, v = ranked.c.rn, ranked.c.n, ranked.c.value
    middle = rn.in_([(n + 1) // 2, (n + 2) // 2])
    return sa_select(
        *(ranked.c[k.name] for k in keys),
        func.count(),
        func.avg(v),
        func.avg(case((middle, v))),
        func.max(case((rn == (9 * n + 9) // 10, v))),
        func.max(v),
        func.sum(case((ranked.c.within.is_(True), 1), else_=0)),
        func.count(ranked.c.within),
        *(func.min(ranked.c[e.name]) for e in extra),
        *(func.max(ranked.c[e.name]) for e in extra),
    ).group_by(*(ranked.c[k.name] for k in keys))


def days_figures(row: Sequence[Any], offset: int) -> DaysFigures:
    count, mean, median, p90, top, within, judged = row[offset : offset + 7]
    return DaysFigures(
        count=count,
        mean=round(float(mean), 2) if mean is not None else None,
        median=round(float(median), 2) if median is not None else None,
        p90=p90,
        max=top,
        within_limit=within or 0,
        within_limit_share=round(within / judged, 4) if judged else None,
    )


async def total_figures(
    session: AsyncSession, conditions: Sequence[ColumnElement[bool]], key: Any
) -> dict[Any, tuple[int, DaysFigures]]:
    """Per value of ``key`` (a column of Application): the applications and their grid-side
    working days of the whole process (电网环节总时长)."""
    connected = (
        sa_select(
            key.label("key"),
            col(Application.grid_days).label("grid_days"),
            col(Application.within_limit).label("within_limit"),
        )
        .where(*conditions)
        .subquery("connected")
    )
    rows = await fetch_all(
        session,
        figures_query(
            connected, connected.c.grid_days, connected.c.within_limit, [connected.c.key]
        ),
    )
    return {row[0]: (row[1], days_figures(row, 1)) for row in rows}


async def stage_figures(
    session: AsyncSession, conditions: Sequence[ColumnElement[bool]], key: Any
) -> dict[Any, list[StageFigures]]:
    """Per value of ``key`` (a column of Application): each stage's figures, in process order."""
    stage_rows = (
        sa_select(
            key.label("key"),
            col(ApplicationStage.stage).label("stage"),
            col(ApplicationStage.grid_days).label("grid_days"),
            col(ApplicationStage.within_limit).label("within_limit"),
            col(ApplicationStage.limit_days).label("limit_days"),
            col(ApplicationStage.seq).label("seq"),
        )
        .join(Application, col(Application.id) == col(ApplicationStage.application_id))
        .where(*conditions)
        .subquery("stage_rows")
    )
    rows = await fetch_all(
        session,
        figures_query(
            stage_rows,
            stage_rows.c.grid_days,
            stage_rows.c.within_limit,
            [stage_rows.c.key, stage_rows.c.stage],
            [stage_rows.c.limit_days, stage_rows.c.seq],
        ),
    )
    found: dict[Any, list[tuple[int, StageFigures]]] = defaultdict(list)
    for row in rows:
        stage = Stage(row[1])
        low, seq, high = row[9], row[10], row[11]  # min(limit), min(seq), max(limit)
        found[row[0]].append(
            (
                seq,
                StageFigures(
                    stage=stage,
                    label=STAGE_LABELS[stage],
                    limit_days=low if low == high else None,
                    grid=days_figures(row, 2),
                ),
            )
        )
    return {k: [s for _, s in sorted(v, key=lambda p: p[0])] for k, v in found.items()}


async def report(
    session: AsyncSession,
    principal: Principal,
    flt: KpiFilter,
    calendar: WorkingCalendar,
    *,
    now: datetime,
) -> KpiReport:
    """The figures per customer type of the applications connected in the period."""
    conditions = scope(principal, flt)
    totals = await total_figures(session, conditions, col(Application.customer_type))
    stages = await stage_figures(session, conditions, col(Application.customer_type))
    general = await fetch_all(
        session,
        sa_select(
            col(Application.customer_type),
            func.avg(col(Application.elapsed_days)),
            func.sum(case((col(Application.paused_days) > 0, 1), else_=0)),
            func.avg(col(Application.paused_days)),
        )
        .where(*conditions)
        .group_by(col(Application.customer_type)),
    )
    pauses = await fetch_all(
        session,
        sa_select(col(Application.customer_type), func.count(distinct(col(ApplicationPause.id))))
        .join(ApplicationPause, col(ApplicationPause.application_id) == col(Application.id))
        .where(*conditions)
        .group_by(col(Application.customer_type)),
    )
    worst_ranked = (
        sa_select(
            col(Application.customer_type).label("customer_type"),
            col(Application.number).label("number"),
            col(Application.unit).label("unit"),
            col(Application.grid_days).label("grid_days"),
            col(Application.elapsed_days).label("elapsed_days"),
            col(Application.paused_days).label("paused_days"),
            col(Application.total_limit_days).label("limit_days"),
            col(Application.accepted_at).label("accepted_at"),
            col(Application.accepted_day).label("accepted_day"),
            col(Application.ended_at).label("ended_at"),
            func.row_number()
            .over(
                partition_by=col(Application.customer_type),
                order_by=(col(Application.grid_days).desc(), col(Application.id)),
            )
            .label("rank"),
        )
        .where(*conditions)
        .subquery("worst")
    )
    worst = await fetch_all(
        session,
        sa_select(worst_ranked)
        .where(worst_ranked.c.rank <= WORST_CASES)
        .order_by(worst_ranked.c.customer_type, worst_ranked.c.rank),
    )
    return _assemble(flt, now, calendar, totals, stages, general, pauses, worst)


def _assemble(
    flt: KpiFilter,
    now: datetime,
    calendar: WorkingCalendar,
    totals: dict[Any, tuple[int, DaysFigures]],
    stages: dict[Any, list[StageFigures]],
    general: Sequence[Any],
    pauses: Sequence[Any],
    worst: Sequence[Any],
) -> KpiReport:
    general_by = {CustomerType(r[0]): r for r in general}
    pauses_by = {CustomerType(r[0]): r[1] for r in pauses}
    worst_by: dict[CustomerType, list[WorstCase]] = defaultdict(list)
    for r in worst:
        due = clock.deadline(calendar, r.accepted_day, r.limit_days, r.paused_days)
        worst_by[CustomerType(r.customer_type)].append(
            WorstCase(
                number=r.number,
                unit=r.unit,
                grid_days=r.grid_days,
                elapsed_days=r.elapsed_days,
                paused_days=r.paused_days,
                limit_days=r.limit_days,
                accepted_at=r.accepted_at,
                connected_at=r.ended_at,
                due_date=due.due,
                due_provisional=due.provisional,
            )
        )
    types = []
    for code in sorted(totals, key=lambda c: list(CustomerType).index(CustomerType(c))):
        customer_type = CustomerType(code)
        applications, total = totals[code]
        _, elapsed_mean, paused_apps, paused_mean = general_by[customer_type]
        stage_list = stages.get(code, [])
        types.append(
            TypeFigures(
                customer_type=customer_type,
                label=customer_type.label,
                applications=applications,
                stage_count=len({s.stage for s in stage_list}),
                total=total,
                elapsed_mean=round(float(elapsed_mean), 2) if elapsed_mean is not None else None,
                stages=stage_list,
                paused_applications=paused_apps or 0,
                pauses=pauses_by.get(customer_type, 0),
                paused_days_mean=round(float(paused_mean), 2) if paused_mean is not None else None,
                worst=worst_by[customer_type],
            )
        )
    return KpiReport(
        period_start=flt.period_start,
        period_end=flt.period_end,
        jurisdiction=flt.jurisdiction,
        unit=flt.unit,
        generated_at=now,
        applications=sum(t.applications for t in types),
        types=types,
    )
