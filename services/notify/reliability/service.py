"""Reliability statistics (供电可靠性统计) from the outage records.

Per area class and year: SAIDI-style average outage hours per customer (户均停电时间 = Σ duration
× customers cut ÷ customers served) and SAIFI-style interruptions per customer (户均停电次数 = Σ
customers cut ÷ customers served), planned (预安排: 计划 and 临时停电) and unplanned (故障停电)
apart, against a plan's target hours or the alternative year-on-year reduction.

Customers cut are those counted per area class when each outage started (the subscribers served
on its start day). Customers served (服务户数) of a year is the official figure staff recorded for
that area class and year (官方用户数) when there is one; otherwise the subscribers served on the
year's last day, 31 December (connected on or before it, not removed by then), counted in SQL.
The usual SAIDI definition (IEEE 1366, and 总用户数 in DL/T 836) divides by the "total number of
customers served" for the reporting period, which companies take at its end; a year-end count is
reproducible from the served-from/until dates alone, where an average of month-ends would only
smooth a growth the plans' targets do not ask about. Past years therefore do not change when
customers are added or removed later. Only restored outages count; an outage across New Year
counts its hours in each year and its interruption in the year it began (Beijing time).

For one power company (供电单位, ``unit``: it and the units under it, ``shared/units.py``) only its
own outages count, over the customers it serves. Subscribers carry no unit: a company serves the
subscribers of the feeders (线路) and transformer areas (台区) its outages have cut, in any year
(a line is run by one company); the official counts are the city's, so they do not apply.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from sqlalchemy import ColumnElement, func, or_
from sqlalchemy import select as sa_select
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.notify.outages.models import (
    Outage,
    OutageImpact,
    OutageKind,
    OutageScope,
    OutageState,
    ScopeKind,
)
from services.notify.reliability.models import (
    AreaClassReliability,
    CustomersSource,
    Figures,
    OfficialCountIn,
    OfficialCustomerCount,
    PlanTarget,
    ReliabilityReport,
    Targets,
)
from services.notify.subscribers.models import Subscriber
from services.notify.subscribers.service import served_on
from shared import units
from shared.calendar import BEIJING
from shared.db import fetch_all
from shared.errors import NotFound, Unprocessable
from shared.vocab import AreaClass

TARGETS = Path(__file__).resolve().parent / "targets.json"


@lru_cache
def targets() -> Targets:
    """The targets transcribed from the seed plans (pinned by tests)."""
    return Targets.model_validate(json.loads(TARGETS.read_text(encoding="utf-8")))


def plan_target(code: str) -> PlanTarget:
    for plan in targets().plans:
        if plan.code == code:
            return plan
    known = ", ".join(p.code for p in targets().plans)
    raise NotFound(
        f"no reliability target for plan '{code}'; known: {known}", code="plan_not_found"
    )


@dataclass
class _Sum:
    interruptions: int = 0
    customer_hours: float = 0.0


def _year_bounds(year: int) -> tuple[datetime, datetime]:
    start = datetime(year, 1, 1, tzinfo=BEIJING).astimezone(UTC)
    end = datetime(year + 1, 1, 1, tzinfo=BEIJING).astimezone(UTC)
    return start, end


def company(name: str) -> tuple[str, tuple[str, ...]]:
    """The listed name of the company ``name`` and the units it stands for (it and those under
    it); a name the unit hierarchy does not list is ``422 unknown_unit``."""
    listed = units.canonical(name)
    if listed is None:
        raise Unprocessable(
            f"unknown unit '{name}'; name a unit of shared/units.json", code="unknown_unit"
        )
    return listed, units.covered([listed])


def _of(scope: tuple[str, ...] | None) -> list[ColumnElement[bool]]:
    return [] if scope is None else [col(Outage.unit).in_(scope)]


async def _sums(
    session: AsyncSession, year: int, scope: tuple[str, ...] | None
) -> tuple[dict[tuple[AreaClass, bool], _Sum], int]:
    """(area class, unplanned?) → sums for ``year``, and how many outages counted."""
    start, end = _year_bounds(year)
    rows = await fetch_all(
        session,
        sa_select(
            col(Outage.id),
            col(Outage.kind),
            col(Outage.actual_start),
            col(Outage.actual_end),
            col(OutageImpact.area_class),
            col(OutageImpact.customers),
        )
        .join(OutageImpact, col(OutageImpact.outage_id) == col(Outage.id))
        .where(
            col(Outage.state) == OutageState.restored,
            col(Outage.actual_start) < end,
            col(Outage.actual_end) > start,
            *_of(scope),
        ),
    )
    sums: dict[tuple[AreaClass, bool], _Sum] = {}
    counted: set[int] = set()
    for outage_id, kind, began, ended, area_class, customers in rows:
        hours = (min(ended, end) - max(began, start)).total_seconds() / 3600
        entry = sums.setdefault((AreaClass(area_class), kind == OutageKind.fault), _Sum())
        entry.customer_hours += hours * customers
        if began >= start:
            entry.interruptions += customers
        counted.add(outage_id)
    return sums, len(counted)


def _figures(total: _Sum, served: int) -> Figures:
    return Figures(
        interruptions=total.interruptions,
        customer_hours=round(total.customer_hours, 4),
        saidi_hours=round(total.customer_hours / served, 4) if served else 0.0,
        saifi=round(total.interruptions / served, 4) if served else 0.0,
    )


@dataclass(frozen=True)
class Served:
    customers: int
    source: CustomersSource
    derived: int


def _served_by(scope: tuple[str, ...]) -> ColumnElement[bool]:
    """Subscribers on a feeder or transformer area cut by an outage of the ``scope`` units."""

    def cut(kind: ScopeKind) -> Any:
        return (
            sa_select(col(OutageScope.name))
            .join(Outage, col(Outage.id) == col(OutageScope.outage_id))
            .where(col(OutageScope.kind) == kind, col(Outage.unit).in_(scope))
        )

    return or_(
        col(Subscriber.feeder).in_(cut(ScopeKind.feeder)),
        col(Subscriber.transformer_area).in_(cut(ScopeKind.area)),
    )


async def customers_served(
    session: AsyncSession, year: int, scope: tuple[str, ...] | None = None
) -> dict[AreaClass, Served]:
    """Customers served per area class in ``year``: official figures first, else derived; of
    the company serving the feeders of ``scope``'s outages only (then derived only)."""
    derived_rows = await fetch_all(
        session,
        sa_select(col(Subscriber.area_class), func.count())
        .where(served_on(date(year, 12, 31)), *([] if scope is None else [_served_by(scope)]))
        .group_by(col(Subscriber.area_class)),
    )
    derived = {AreaClass(c): n for c, n in derived_rows}
    if scope is not None:
        return {
            c: Served(derived.get(c, 0), CustomersSource.subscribers, derived.get(c, 0))
            for c in targets().area_classes
        }
    official_rows = await fetch_all(
        session,
        sa_select(
            col(OfficialCustomerCount.area_class), col(OfficialCustomerCount.customers)
        ).where(col(OfficialCustomerCount.year) == year),
    )
    official = {AreaClass(c): n for c, n in official_rows}
    served = {}
    for area_class in targets().area_classes:
        counted = derived.get(area_class, 0)
        if area_class in official:
            served[area_class] = Served(official[area_class], CustomersSource.official, counted)
        else:
            served[area_class] = Served(counted, CustomersSource.subscribers, counted)
    return served


async def reliability(
    session: AsyncSession, year: int, plan_code: str, unit: str | None = None
) -> ReliabilityReport:
    """The city's figures, or with ``unit`` those of one company (:func:`company`)."""
    plan = plan_target(plan_code)
    name, scope = company(unit) if unit is not None else (None, None)
    served = await customers_served(session, year, scope)
    served_before = await customers_served(session, year - 1, scope)
    this_year, counted = await _sums(session, year, scope)
    last_year, _ = await _sums(session, year - 1, scope)
    _, end = _year_bounds(year)
    ongoing = await fetch_all(
        session,
        sa_select(func.count()).where(
            col(Outage.state) == OutageState.started, col(Outage.actual_start) < end, *_of(scope)
        ),
    )
    classes = []
    for area_class in targets().area_classes:
        n = served[area_class].customers
        planned = this_year.get((area_class, False), _Sum())
        unplanned = this_year.get((area_class, True), _Sum())
        both = _Sum(
            planned.interruptions + unplanned.interruptions,
            planned.customer_hours + unplanned.customer_hours,
        )
        before = _Sum(
            sum(s.interruptions for (c, _), s in last_year.items() if c == area_class),
            sum(s.customer_hours for (c, _), s in last_year.items() if c == area_class),
        )
        total = _figures(both, n)
        n_before = served_before[area_class].customers
        previous = _figures(before, n_before).saidi_hours if before.customer_hours else None
        reduction = round((previous - total.saidi_hours) / previous * 100, 2) if previous else None
        target = plan.saidi_hours[area_class]
        meets_hours = total.saidi_hours <= target
        meets_reduction = reduction is not None and reduction >= plan.year_on_year_reduction_percent
        classes.append(
            AreaClassReliability(
                area_class=area_class,
                customers_served=n,
                customers_served_source=served[area_class].source,
                customers_served_derived=served[area_class].derived,
                planned=_figures(planned, n),
                unplanned=_figures(unplanned, n),
                total=total,
                target_hours=target,
                previous_year_saidi_hours=previous,
                reduction_percent=reduction,
                meets_target_hours=meets_hours,
                meets_reduction=meets_reduction,
                meets=meets_hours or meets_reduction,
            )
        )
    return ReliabilityReport(
        year=year,
        plan=plan.code,
        plan_name=plan.name,
        unit=name,
        reduction_target_percent=plan.year_on_year_reduction_percent,
        outages_counted=counted,
        outages_ongoing=ongoing[0][0],
        area_classes=classes,
    )


async def official_counts(session: AsyncSession, year: int | None) -> list[OfficialCustomerCount]:
    query = select(OfficialCustomerCount)
    if year is not None:
        query = query.where(col(OfficialCustomerCount.year) == year)
    found = await session.exec(
        query.order_by(col(OfficialCustomerCount.year), col(OfficialCustomerCount.area_class))
    )
    return list(found)


async def set_official_count(
    session: AsyncSession,
    year: int,
    area_class: AreaClass,
    data: OfficialCountIn,
    *,
    by: str,
    now: datetime,
) -> OfficialCustomerCount:
    """Record (or correct) the official customers served of an area class and year."""
    found = await session.exec(
        select(OfficialCustomerCount)
        .where(
            col(OfficialCustomerCount.year) == year,
            col(OfficialCustomerCount.area_class) == area_class,
        )
        .with_for_update()
    )
    row = found.first() or OfficialCustomerCount(
        year=year, area_class=area_class, customers=0, recorded_by=by, recorded_at=now
    )
    row.customers = data.customers
    row.note = data.note
    row.recorded_by = by
    row.recorded_at = now
    session.add(row)
    await session.flush()
    return row


async def remove_official_count(session: AsyncSession, year: int, area_class: AreaClass) -> None:
    """Drop an official figure; the derived count applies again."""
    found = await session.exec(
        select(OfficialCustomerCount).where(
            col(OfficialCustomerCount.year) == year,
            col(OfficialCustomerCount.area_class) == area_class,
        )
    )
    row = found.first()
    if row is None:
        raise NotFound(
            f"no official customer count for {area_class.value} in {year}",
            code="official_count_not_found",
        )
    await session.delete(row)
    await session.flush()
