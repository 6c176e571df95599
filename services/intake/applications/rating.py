"""The applicant's rating of the service once connected (服务线上评价)."""

from __future__ import annotations

from datetime import datetime

from sqlmodel.ext.asyncio.session import AsyncSession

from services.intake.applications.log import append_event
from services.intake.applications.models import Application, ApplicationStatus, EventKind
from services.intake.applications.requests import RatingRequest
from shared.errors import Conflict


async def record_rating(
    session: AsyncSession, application: Application, data: RatingRequest, *, now: datetime
) -> None:
    """The applicant's rating of the service once connected (服务线上评价), once."""
    if application.status is not ApplicationStatus.connected:
        raise Conflict("the service can be rated once the power is connected", code="not_connected")
    if application.rating is not None:
        raise Conflict("this application has been rated", code="already_rated")
    application.rating, application.rating_comment, application.rated_at = (
        data.score,
        data.comment,
        now,
    )
    append_event(
        session,
        application,
        EventKind.rated,
        now=now,
        actor="applicant",
        reason=data.comment or None,
        payload={"score": data.score},
    )
    await session.flush()
