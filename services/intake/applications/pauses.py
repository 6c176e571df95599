"""Pauses: the clock stopped while the customer is awaited (暂停计时), and restarted (恢复计时)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlmodel.ext.asyncio.session import AsyncSession

from services.intake.access import check_operator
from services.intake.applications.checks import check_changeable, check_not_before
from services.intake.applications.clocking import Clocking, refresh
from services.intake.applications.loading import get_application, load_pauses, load_stages
from services.intake.applications.log import append_event
from services.intake.applications.models import (
    Application,
    ApplicationPause,
    ApplicationStage,
    ApplicationStatus,
    EventKind,
)
from services.intake.applications.requests import PauseRequest, ResumeRequest
from shared.auth import Principal
from shared.calendar import beijing_date
from shared.errors import Conflict


async def open_pause(
    session: AsyncSession,
    application: Application,
    data: PauseRequest,
    *,
    actor: Principal,
    now: datetime,
) -> tuple[list[ApplicationStage], list[ApplicationPause], ApplicationPause]:
    """A new pause of the current stage, from now, with the reason; the application's stages
    and earlier pauses beside it. :func:`stop_clock` then stops the clock."""
    check_operator(application, actor)
    check_changeable(application)
    if application.status is ApplicationStatus.paused:
        raise Conflict("the clock is already paused", code="application_paused")
    stages = await load_stages(session, application.id)
    check_not_before(stages[application.current_seq].started_at, now)
    pauses = await load_pauses(session, application.id)
    check_not_before(max((p.ended_at for p in pauses if p.ended_at), default=None), now)
    new = ApplicationPause(
        application_id=application.id or 0,
        stage_seq=application.current_seq,
        reason=data.reason,
        note=data.note,
        started_at=now,
        started_day=beijing_date(now),
        started_by=actor.subject,
    )
    session.add(new)
    return stages, pauses, new


async def stop_clock(
    session: AsyncSession,
    application: Application,
    stages: list[ApplicationStage],
    pauses: list[ApplicationPause],
    new: ApplicationPause,
    data: PauseRequest,
    *,
    actor: Principal,
    now: datetime,
    clocking: Clocking,
) -> Application:
    """Stop the clock while the customer is awaited (暂停计时), from the pause ``new``."""
    application.status = ApplicationStatus.paused
    refresh(application, stages, [*pauses, new], clocking)
    append_event(
        session,
        application,
        EventKind.paused,
        now=now,
        actor=actor.subject,
        stage=application.current_stage,
        reason=data.note or None,
        payload={"reason": data.reason.value},
    )
    await session.flush()
    return application


def end_pause(
    pauses: Sequence[ApplicationPause], actor: Principal, now: datetime
) -> ApplicationPause:
    running = next(p for p in pauses if p.ended_at is None)
    check_not_before(running.started_at, now)
    running.ended_at, running.ended_day, running.ended_by = now, beijing_date(now), actor.subject
    return running


async def resume(
    session: AsyncSession,
    number: str,
    data: ResumeRequest,
    *,
    actor: Principal,
    now: datetime,
    clocking: Clocking,
) -> Application:
    """Restart the clock once the customer has acted (恢复计时)."""
    application = await get_application(session, number, for_update=True)
    check_operator(application, actor)
    check_changeable(application)
    if application.status is not ApplicationStatus.paused:
        raise Conflict("the clock is not paused", code="application_not_paused")
    pauses = await load_pauses(session, application.id)
    ended = end_pause(pauses, actor, now)
    application.status = ApplicationStatus.open
    refresh(application, await load_stages(session, application.id), pauses, clocking)
    append_event(
        session,
        application,
        EventKind.resumed,
        now=now,
        actor=actor.subject,
        stage=application.current_stage,
        reason=data.note or None,
        payload={"paused_days": ended.days},
    )
    await session.flush()
    return application
