"""The watch (监测预警): which open stages are at risk or overdue.

The list is a single SQL query on the application row's stored due date and first at-risk day,
compared with today, and served by the indexes declared on ``applications``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import ColumnElement
from sqlalchemy import select as sa_select
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from services.intake.access import check_unit_filter
from services.intake.applications.models import Application, ApplicationStatus
from services.intake.monitoring.models import WatchItem, WatchLevel, WatchPage
from services.intake.policies.models import STAGE_LABELS, Stage
from shared import units
from shared.auth import Principal, Role
from shared.calendar import WorkingCalendar
from shared.db import AnySelect
from shared.pagination import FIRST_PAGE, PageParams, fetch_page
from shared.vocab import CustomerType


@dataclass(frozen=True)
class WatchFilter:
    unit: str | None = None
    customer_type: CustomerType | None = None
    stage: Stage | None = None


def scope(principal: Principal, unit: Any, supervising: Any) -> list[ColumnElement[bool]]:
    """Clerks see their units' applications, supervisors those they supervise."""
    if principal.role is Role.clerk:
        return [col(unit).in_(units.covered(principal.units))]
    if principal.role is Role.supervisor:
        return [col(supervising).in_(units.covered(principal.units))]
    return []


def watch_condition(level: WatchLevel, today: date) -> ColumnElement[bool]:
    """Open applications whose current clock is overdue, or at risk and not yet overdue."""
    is_open = col(Application.status) == ApplicationStatus.open.value
    if level is WatchLevel.overdue:
        return is_open & (col(Application.due_date) < today)
    return is_open & (col(Application.at_risk_from) <= today) & (col(Application.due_date) >= today)


async def list_watch(
    session: AsyncSession,
    principal: Principal,
    level: WatchLevel,
    flt: WatchFilter,
    calendar: WorkingCalendar,
    today: date,
    paging: PageParams = FIRST_PAGE,
) -> WatchPage:
    """At-risk or overdue stages, soonest due first, counted and paged in SQL."""
    check_unit_filter(principal, flt.unit)
    query: AnySelect = sa_select(
        col(Application.number),
        col(Application.unit),
        col(Application.supervising_unit),
        col(Application.clerk),
        col(Application.customer_type),
        col(Application.current_stage),
        col(Application.staged),
        col(Application.at_risk_from),
        col(Application.due_date),
        col(Application.due_provisional),
    ).where(
        watch_condition(level, today),
        *scope(principal, Application.unit, Application.supervising_unit),
    )
    if flt.unit is not None:
        query = query.where(col(Application.unit).in_(units.covered([flt.unit])))
    if flt.customer_type is not None:
        query = query.where(col(Application.customer_type) == flt.customer_type.value)
    if flt.stage is not None:
        query = query.where(col(Application.current_stage) == flt.stage.value)
    total, rows = await fetch_page(
        session, query, paging, col(Application.due_date), col(Application.id)
    )
    items = [
        WatchItem(
            number=number,
            unit=unit,
            supervising_unit=supervising,
            clerk=clerk,
            customer_type=customer_type,
            stage=stage,
            stage_label=STAGE_LABELS[stage],
            basis="stage" if staged else "total",
            at_risk_from=at_risk_from,
            due_date=due,
            provisional=provisional,
            state=level,
            days_overdue=calendar.working_days_between(due, today).days,
        )
        for (
            number,
            unit,
            supervising,
            clerk,
            customer_type,
            stage,
            staged,
            at_risk_from,
            due,
            provisional,
        ) in rows
    ]
    return WatchPage(
        as_of=today,
        state=level,
        total=total,
        limit=paging.limit,
        offset=paging.offset,
        items=items,
    )
