"""Moving on: completing the current stage (or connecting, 接电) and closing (终止).

Every transition is stamped with the server's time, passed in as ``now``: callers cannot
backdate (后补流程), re-run (重走流程) or skip a stage.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from services.intake.access import check_operator
from services.intake.applications.checks import check_changeable, check_not_before
from services.intake.applications.clocking import Clocking, refresh
from services.intake.applications.loading import get_application, load_pauses, load_stages
from services.intake.applications.log import append_event
from services.intake.applications.models import (
    Application,
    ApplicationStage,
    ApplicationStatus,
    EventKind,
)
from services.intake.applications.pauses import end_pause
from services.intake.applications.requests import CloseRequest, StageCompletion
from services.intake.outbox.models import EventType
from services.intake.outbox.service import enqueue
from services.intake.policies.models import STAGE_LABELS, Stage
from shared.auth import Principal
from shared.calendar import beijing_date
from shared.errors import Conflict, FieldError, Unprocessable


async def stage_to_complete(
    session: AsyncSession,
    application: Application,
    stage: Stage,
    *,
    actor: Principal,
    now: datetime,
) -> tuple[list[ApplicationStage], ApplicationStage]:
    """The application's stages and the one ``stage`` names, refused unless it is the current
    stage and ``actor`` may complete it now."""
    check_operator(application, actor)
    check_changeable(application)
    if application.status is ApplicationStatus.paused:
        raise Conflict(
            "the clock is paused for the customer; resume it first", code="application_paused"
        )
    stages = await load_stages(session, application.id)
    target = next((s for s in stages if s.stage is stage), None)
    if target is None:
        raise Conflict(
            f"{STAGE_LABELS[stage]} is not a stage of this application", code="stage_not_in_process"
        )
    if target.seq < application.current_seq:
        raise Conflict(
            f"{STAGE_LABELS[stage]} is completed; a stage is never run again (不得重走流程)",
            code="stage_already_completed",
        )
    if target.seq > application.current_seq:
        current = STAGE_LABELS[stages[application.current_seq].stage]
        raise Conflict(
            f"the current stage is {current}; stages are not skipped (不得跳过环节)",
            code="stage_not_reached",
        )
    check_not_before(target.started_at, now)
    return stages, target


def record_connection_point(application: Application, data: StageCompletion, *, last: bool) -> None:
    """The feeder (线路) and transformer area (台区) given; both are required to connect."""
    application.feeder = data.feeder or application.feeder
    application.transformer_area = data.transformer_area or application.transformer_area
    if last and not (application.feeder and application.transformer_area):
        raise Unprocessable(
            "record the feeder (线路) and transformer area (台区) before connecting",
            code="connection_point_required",
            errors=[
                FieldError(field=f, code="required", message="接电前须填写")
                for f in ("feeder", "transformer_area")
                if not getattr(application, f)
            ],
        )


async def complete(
    session: AsyncSession,
    application: Application,
    stages: list[ApplicationStage],
    target: ApplicationStage,
    data: StageCompletion,
    *,
    actor: Principal,
    now: datetime,
    clocking: Clocking,
) -> Application:
    """Close the current stage now and open the next one (or record the connection, 接电)."""
    today = beijing_date(now)
    last = target.seq == len(stages) - 1
    target.completed_at, target.completed_day, target.completed_by = now, today, actor.subject
    if last:
        application.status = ApplicationStatus.connected
        application.current_stage = None
        application.current_seq = len(stages)
        application.ended_at, application.ended_day = now, today
    else:
        following = stages[target.seq + 1]
        following.started_at, following.started_day = now, today
        application.current_stage = following.stage
        application.current_seq = following.seq
        if application.staged:  # a new stage clock; a total budget keeps its warnings
            application.warned_level = 0
    pauses = await load_pauses(session, application.id)
    refresh(application, stages, pauses, clocking)
    append_event(
        session,
        application,
        EventKind.stage_completed,
        now=now,
        actor=actor.subject,
        stage=target.stage,
        payload={
            "next_stage": application.current_stage.value if application.current_stage else None,
            "elapsed_days": target.elapsed_days,
            "paused_days": target.paused_days,
            "grid_days": target.grid_days,
            "within_limit": target.within_limit,
            "note": data.note,
            "feeder": data.feeder,
            "transformer_area": data.transformer_area,
        },
    )
    if last:
        enqueue(
            session,
            EventType.application_connected,
            subject=application.number,
            data=connected_event_data(application),
            now=now,
        )
    await session.flush()
    return application


def connected_event_data(application: Application) -> dict[str, Any]:
    """``data`` of intake.application.connected: notify registers the new customer as an
    outage subscriber of its feeder and transformer area (停电信息订阅)."""
    return {
        "application_number": application.number,
        "name": application.applicant_name[:100],
        "mobile": application.mobile,
        "email": application.email,
        "feeder": application.feeder,
        "transformer_area": application.transformer_area,
        "area_class": application.area_class.value,
    }


async def close(
    session: AsyncSession,
    number: str,
    data: CloseRequest,
    *,
    actor: Principal,
    now: datetime,
    clocking: Clocking,
) -> Application:
    """End an application without connection (终止, e.g. withdrawn by the customer)."""
    application = await get_application(session, number, for_update=True)
    check_operator(application, actor)
    check_changeable(application)
    stages = await load_stages(session, application.id)
    check_not_before(stages[application.current_seq].started_at, now)
    pauses = await load_pauses(session, application.id)
    if application.status is ApplicationStatus.paused:
        end_pause(pauses, actor, now)
    application.status = ApplicationStatus.closed
    application.ended_at, application.ended_day = now, beijing_date(now)
    refresh(application, stages, pauses, clocking)
    append_event(
        session,
        application,
        EventKind.closed,
        now=now,
        actor=actor.subject,
        stage=application.current_stage,
        reason=data.reason,
        payload={"paused_days": application.paused_days},
    )
    await session.flush()
    return application
