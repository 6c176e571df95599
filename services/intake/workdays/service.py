"""The working-day calendar of the intake service: package data plus the years loaded here.

``app.state.calendar`` is rebuilt from the stored arrangements at startup and after every load.
A load also recomputes the deadlines that depend on the loaded year, in the same transaction.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import date, datetime, timedelta

from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.intake.applications.log import keyring_of
from services.intake.integrity.clock_record import record_loaded_years, seal_year
from services.intake.workdays.models import (
    PREDICTED_SOURCE,
    CalendarLoadResult,
    CalendarYear,
    CalendarYearDetail,
    CalendarYears,
    CalendarYearSummary,
    YearArrangementIn,
)
from shared.calendar import CalendarDataError, WorkingCalendar, YearArrangement, beijing_date
from shared.db import session_scope
from shared.errors import FieldError, Unprocessable

Recompute = Callable[[AsyncSession, WorkingCalendar, int], Awaitable[int]]
"""Recomputes what depends on one year of the calendar; returns how many applications changed."""


def _arrangement(row: CalendarYear) -> YearArrangement:
    return YearArrangement(
        year=row.year,
        holidays=frozenset(date.fromisoformat(d) for d in row.holidays),
        makeup_workdays=frozenset(date.fromisoformat(d) for d in row.makeup_workdays),
        source=row.source,
    )


async def _rows(session: AsyncSession) -> list[CalendarYear]:
    return list((await session.exec(select(CalendarYear).order_by(col(CalendarYear.year)))).all())


async def loaded_arrangements(session: AsyncSession) -> list[YearArrangement]:
    return [_arrangement(row) for row in await _rows(session)]


async def stored_calendar(session: AsyncSession, today: date) -> WorkingCalendar:
    """The package calendar with every stored arrangement loaded over it."""
    return WorkingCalendar.build(await loaded_arrangements(session), today=today)


async def attach_calendar(app: FastAPI) -> WorkingCalendar:
    """Make ``app.state.calendar`` the package calendar with the years loaded earlier."""
    async with session_scope(app.state.engine) as session:
        calendar = await stored_calendar(session, beijing_date(app.state.clock.now()))
    app.state.calendar = calendar
    return calendar


def _days(year: int) -> list[date]:
    first = date(year, 1, 1)
    return [first + timedelta(days=i) for i in range((date(year + 1, 1, 1) - first).days)]


def _require_in_calendar(calendar: WorkingCalendar, year: int) -> None:
    if not calendar.first_year <= year <= calendar.last_year:
        raise Unprocessable(
            f"{year} is outside the calendar ({calendar.first_year}..{calendar.last_year})",
            code="year_out_of_range",
        )


def year_detail(
    calendar: WorkingCalendar, year: int, row: CalendarYear | None = None
) -> CalendarYearDetail:
    """A year as the calendar counts it: weekdays off, weekend working days, working days."""
    _require_in_calendar(calendar, year)
    days = _days(year)
    working = [d for d in days if calendar.is_workday(d)]
    return CalendarYearDetail(
        year=year,
        source=calendar.source_of(year) or PREDICTED_SOURCE,
        origin="loaded" if row is not None else "package",
        loaded_at=row.loaded_at if row else None,
        loaded_by=row.loaded_by if row else None,
        confirmed=calendar.is_confirmed(year),
        holidays=[d for d in days if d.weekday() < 5 and not calendar.is_workday(d)],
        makeup_workdays=[d for d in working if d.weekday() >= 5],
        working_days=len(working),
    )


async def list_years(session: AsyncSession, calendar: WorkingCalendar) -> CalendarYears:
    loaded = {row.year: row for row in await _rows(session)}
    confirmed = []
    for year in calendar.confirmed_years():
        row = loaded.get(year)
        confirmed.append(
            CalendarYearSummary(
                year=year,
                source=calendar.source_of(year) or "",
                origin="loaded" if row else "package",
                loaded_at=row.loaded_at if row else None,
                loaded_by=row.loaded_by if row else None,
            )
        )
    unconfirmed = [
        y
        for y in range(calendar.first_year, calendar.last_year + 1)
        if not calendar.is_confirmed(y)
    ]
    return CalendarYears(confirmed=confirmed, unconfirmed=unconfirmed)


async def get_year(
    session: AsyncSession, calendar: WorkingCalendar, year: int
) -> CalendarYearDetail:
    _require_in_calendar(calendar, year)  # before the query: a huge year overflows the driver
    return year_detail(calendar, year, await session.get(CalendarYear, year))


def _checked(year: int, data: YearArrangementIn, calendar: WorkingCalendar) -> YearArrangement:
    if not calendar.first_year <= year <= calendar.last_year:
        raise Unprocessable(
            f"arrangements can be loaded for {calendar.first_year}..{calendar.last_year}",
            code="year_out_of_range",
        )
    try:
        return YearArrangement(
            year=year,
            holidays=frozenset(data.holidays),
            makeup_workdays=frozenset(data.makeup_workdays),
            source=data.source.strip(),
        )
    except CalendarDataError as exc:
        raise Unprocessable(
            str(exc),
            code="invalid_arrangement",
            errors=[FieldError(field="body", code="invalid_arrangement", message=str(exc))],
        ) from exc


async def load_year(
    engine: AsyncEngine,
    calendar: WorkingCalendar,
    year: int,
    data: YearArrangementIn,
    *,
    actor: str,
    now: datetime,
    recompute: Recompute | None = None,
) -> tuple[WorkingCalendar, CalendarLoadResult]:
    """Store ``year``'s arrangement and recompute what depends on it, as one unit of work.

    Owns its transaction (it commits), so the caller can swap ``app.state.calendar`` for the
    returned calendar only once the data is stored.
    """
    arrangement = _checked(year, data, calendar)
    async with session_scope(engine) as session:
        row = await session.get(CalendarYear, year)
        if row is None:
            row = CalendarYear(
                year=year, holidays=[], makeup_workdays=[], source="", loaded_by="", loaded_at=now
            )
            session.add(row)
        row.holidays = sorted(d.isoformat() for d in arrangement.holidays)
        row.makeup_workdays = sorted(d.isoformat() for d in arrangement.makeup_workdays)
        row.source = arrangement.source
        row.loaded_at = now
        row.loaded_by = actor
        keyring = keyring_of(session)
        seal_year(row, keyring)
        await record_loaded_years(session, keyring, actor=actor, now=now)
        await session.flush()
        updated = await stored_calendar(session, beijing_date(now))
        changed = await recompute(session, updated, year) if recompute else 0
        detail = year_detail(updated, year, row)
    return updated, CalendarLoadResult(**detail.model_dump(), recomputed_applications=changed)
