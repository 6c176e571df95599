"""Working-day calendar administration (工作日历维护): the years confirmed and loading a year."""

from __future__ import annotations

from fastapi import APIRouter, Request
from sqlmodel.ext.asyncio.session import AsyncSession

from services.intake.applications.clocking import Clocking
from services.intake.deps import Calendar, Config, CurrentAdmin, CurrentStaff
from services.intake.due_changes.service import LoadOutcome, recompute_and_record
from services.intake.workdays import service
from services.intake.workdays.models import (
    CalendarLoadResult,
    CalendarYearDetail,
    CalendarYears,
    YearArrangementIn,
)
from shared.app import Session
from shared.auth import CurrentPrincipal
from shared.calendar import WorkingCalendar
from shared.calendar_sync import ArrangementOut
from shared.clock import Now
from shared.errors import Forbidden

router = APIRouter(tags=["calendar"])


@router.get("/calendar/years", summary="Confirmed years and their source (已确认年度)")
async def list_years(_staff: CurrentStaff, session: Session, calendar: Calendar) -> CalendarYears:
    return await service.list_years(session, calendar)


@router.get("/calendar/years/{year}", summary="One year's days off and make-up days (年度安排)")
async def get_year(
    year: int, _staff: CurrentStaff, session: Session, calendar: Calendar
) -> CalendarYearDetail:
    return await service.get_year(session, calendar, year)


@router.put(
    "/calendar/years/{year}",
    summary="Load a year's official arrangement (录入年度节假日安排)",
)
async def load_year(
    year: int,
    body: YearArrangementIn,
    admin: CurrentAdmin,
    calendar: Calendar,
    config: Config,
    now: Now,
    request: Request,
) -> CalendarLoadResult:
    """Deadlines that depend on the year are recomputed with it, in the same transaction; each
    live deadline that moved is recorded, its obsolete warnings cleared, and those concerned
    told (the clerk, the unit and the applicant through notify, the portal by its callback)."""
    outcome = LoadOutcome()

    async def recompute(session: AsyncSession, updated: WorkingCalendar, loaded: int) -> int:
        found = await recompute_and_record(
            session,
            Clocking(updated, config.at_risk_percent),
            loaded,
            source=body.source.strip(),
            actor=admin.subject,
            now=now,
        )
        outcome.recomputed, outcome.moved = found.recomputed, found.moved
        return found.recomputed

    updated, result = await service.load_year(
        request.app.state.engine,
        calendar,
        year,
        body,
        actor=admin.subject,
        now=now,
        recompute=recompute,
    )
    request.app.state.calendar = updated
    return result.model_copy(update={"moved_deadlines": outcome.moved})


@router.get(
    "/calendar/arrangements",
    summary="Loaded years as loaded, for the other services (已录入的年度安排)",
)
async def arrangements(principal: CurrentPrincipal, session: Session) -> list[ArrangementOut]:
    if not principal.is_service and principal.role is None:
        raise Forbidden("sign in or call as a Huodian service", code="staff_or_service_required")
    return [
        ArrangementOut(
            year=a.year,
            holidays=sorted(a.holidays),
            makeup_workdays=sorted(a.makeup_workdays),
            source=a.source,
        )
        for a in await service.loaded_arrangements(session)
    ]
