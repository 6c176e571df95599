"""Who may do what with an application: clerks (受理人员) operate their units' applications,
supervisors (监管) read those their units supervise."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

from fastapi import Depends
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from services.intake.applications.loading import get_application
from services.intake.applications.models import Application
from services.intake.deps import CurrentClerk
from shared import units
from shared.app import Session
from shared.auth import Principal, Role
from shared.clock import Now
from shared.errors import Forbidden


def check_operator(application: Application, principal: Principal) -> None:
    """Only a clerk of the application's unit operates it."""
    if principal.role is not Role.clerk:
        raise Forbidden("this action is for clerks (受理人员)", code="clerk_required")
    units.require_covers(
        principal.units,
        application.unit,
        f"application {application.number} belongs to {application.unit}, not your units",
    )


def check_reader(application: Application, principal: Principal) -> bool:
    """Whether the caller may read the application, and unmasked (its unit's clerks) or not."""
    if principal.role is Role.clerk:
        check_operator(application, principal)
        return True
    if principal.role is Role.supervisor:
        units.require_covers(
            principal.units,
            application.supervising_unit,
            f"application {application.number} is supervised by {application.supervising_unit}",
        )
    return False


def check_unit_filter(principal: Principal, unit: str | None) -> None:
    """A clerk narrows a listing only to a unit they act for (theirs or one under them)."""
    if principal.role is Role.clerk and unit is not None:
        units.require_covers(principal.units, unit)


def visible_to(query: Any, principal: Principal) -> Any:
    """``query`` narrowed to the applications ``principal`` may see: a clerk those of their units,
    a supervisor those their units supervise, administrators and viewers all."""
    if principal.role is Role.clerk:
        return query.where(col(Application.unit).in_(units.covered(principal.units)))
    if principal.role is Role.supervisor:
        return query.where(col(Application.supervising_unit).in_(units.covered(principal.units)))
    return query


@dataclass(frozen=True)
class ClerkAtApplication:
    """An application locked for a change by a clerk of its unit, in the request's
    transaction, at the request's time."""

    application: Application
    clerk: Principal
    session: AsyncSession
    now: datetime


async def _clerk_at_application(
    number: str, clerk: CurrentClerk, session: Session, now: Now
) -> ClerkAtApplication:
    application = await get_application(session, number, for_update=True)
    check_operator(application, clerk)
    return ClerkAtApplication(application, clerk, session, now)


# The route's ``{number}``, 404 if there is none, 403 unless the caller is its unit's clerk.
OperatedApplication = Annotated[ClerkAtApplication, Depends(_clerk_at_application)]
