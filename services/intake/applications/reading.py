"""Reading applications: the public shape, listings, counts by stage, the stage log."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.intake.access import check_reader, check_unit_filter, visible_to
from services.intake.applications import clock
from services.intake.applications.checks import ENDED
from services.intake.applications.clocking import watch_state
from services.intake.applications.loading import get_application
from services.intake.applications.models import (
    ApplicantPublic,
    Application,
    ApplicationEvent,
    ApplicationPage,
    ApplicationPause,
    ApplicationPublic,
    ApplicationStage,
    ApplicationStatus,
    ClockPublic,
    EventPublic,
    PausePublic,
    SitePublic,
    StagePublic,
    TimeSpent,
    WatchState,
    pause_facts,
)
from services.intake.policies.models import STAGE_LABELS, Stage
from services.intake.rules.identity import mask_id_number, mask_mobile
from shared import units
from shared.auth import Principal, Role
from shared.calendar import WorkingCalendar
from shared.masking import masked_unless
from shared.pagination import FIRST_PAGE, PageParams, fetch_page
from shared.vocab import CustomerType


def _open_pause_days(
    pauses: Sequence[ApplicationPause], calendar: WorkingCalendar, today: date
) -> tuple[int, bool]:
    running = next((p for p in pauses if p.ended_day is None), None)
    if running is None:
        return 0, False
    return clock.paused_days(calendar, running.started_day, today)


def stage_public(
    stage: ApplicationStage,
    application: Application,
    pauses: Sequence[ApplicationPause],
    calendar: WorkingCalendar,
    today: date,
) -> StagePublic:
    state: Any = (
        "done"
        if stage.completed_at is not None
        else "open"
        if stage.started_at is not None and application.status not in ENDED
        else "pending"
    )
    time: TimeSpent | None = None
    if stage.completed_day is not None:
        assert stage.elapsed_days is not None
        assert stage.grid_days is not None
        time = TimeSpent(
            limit_days=stage.limit_days,
            elapsed_days=stage.elapsed_days,
            paused_days=stage.paused_days,
            grid_days=stage.grid_days,
            within_limit=stage.within_limit,
            provisional=stage.provisional,
        )
    elif stage.started_day is not None:
        end = application.ended_day or today
        running, running_provisional = (
            _open_pause_days(pauses, calendar, end) if state == "open" else (0, False)
        )
        so_far = clock.spent(
            calendar, stage.started_day, end, stage.paused_days + running, running_provisional
        )
        time = TimeSpent(
            limit_days=stage.limit_days,
            elapsed_days=so_far.elapsed,
            paused_days=so_far.paused,
            grid_days=so_far.grid,
            within_limit=None,
            provisional=so_far.provisional,
        )
    return StagePublic(
        seq=stage.seq,
        stage=stage.stage,
        label=STAGE_LABELS[stage.stage],
        state=state,
        started_at=stage.started_at,
        completed_at=stage.completed_at,
        completed_by=stage.completed_by,
        due_date=stage.due_date,
        time=time,
    )


def _total(
    application: Application,
    pauses: Sequence[ApplicationPause],
    calendar: WorkingCalendar,
    today: date,
) -> TimeSpent:
    end = application.ended_day or today
    running, running_provisional = _open_pause_days(pauses, calendar, end)
    so_far = clock.spent(
        calendar,
        application.accepted_day,
        end,
        application.paused_days + running,
        running_provisional,
    )
    connected = application.status is ApplicationStatus.connected
    return TimeSpent(
        limit_days=application.total_limit_days,
        elapsed_days=so_far.elapsed,
        paused_days=so_far.paused,
        grid_days=so_far.grid,
        within_limit=so_far.grid <= application.total_limit_days if connected else None,
        provisional=so_far.provisional,
    )


def _clock_public(
    application: Application,
    stages: Sequence[ApplicationStage],
    calendar: WorkingCalendar,
    today: date,
) -> ClockPublic | None:
    state = watch_state(application, today)
    if state is None or state is WatchState.paused or application.due_date is None:
        return None
    assert application.at_risk_from is not None
    limit = (
        stages[application.current_seq].limit_days
        if application.staged
        else application.total_limit_days
    )
    assert limit is not None
    return ClockPublic(
        basis="stage" if application.staged else "total",
        limit_days=limit,
        due_date=application.due_date,
        at_risk_from=application.at_risk_from,
        provisional=application.due_provisional,
        state=state,
        remaining_days=calendar.working_days_between(today, application.due_date).days,
    )


def to_public(
    application: Application,
    stages: Sequence[ApplicationStage],
    pauses: Sequence[ApplicationPause],
    calendar: WorkingCalendar,
    today: date,
    *,
    unmasked: bool,
) -> ApplicationPublic:
    return ApplicationPublic(
        number=application.number,
        jurisdiction=application.jurisdiction,
        policy_code=application.policy_code,
        customer_type=application.customer_type,
        has_works=application.has_works,
        channel=application.channel,
        unit=application.unit,
        supervising_unit=application.supervising_unit,
        clerk=application.clerk,
        applicant=ApplicantPublic(
            name=application.applicant_name,
            id_kind=application.id_kind,
            id_number=application.id_number if unmasked else mask_id_number(application.id_number),
            mobile=application.mobile if unmasked else mask_mobile(application.mobile),
            email=application.email,
        ),
        site=SitePublic(
            address=application.site_address,
            area_class=application.area_class,
            feeder=application.feeder,
            transformer_area=application.transformer_area,
        ),
        capacity_kw=application.capacity_kw,
        accepted_at=application.accepted_at,
        status=application.status,
        current_stage=application.current_stage,
        current_stage_label=STAGE_LABELS[application.current_stage]
        if application.current_stage
        else None,
        clock=_clock_public(application, stages, calendar, today),
        total=_total(application, pauses, calendar, today),
        ended_at=application.ended_at,
        rating=application.rating,
        project_code=application.project_code,
    )


def pause_public(
    pause: ApplicationPause, stages: dict[int, Stage], calendar: WorkingCalendar, until: date
) -> PausePublic:
    """A pause with its working days (so far, if running) and whether they are provisional."""
    days, provisional = clock.paused_days(calendar, pause.started_day, pause.ended_day or until)
    return PausePublic(
        stage=stages[pause.stage_seq],
        **pause_facts(pause),
        days=pause.days if pause.days is not None else days,
        provisional=provisional,
    )


@dataclass(frozen=True)
class ApplicationFilter:
    status: ApplicationStatus | None = None
    unit: str | None = None
    customer_type: CustomerType | None = None
    stage: Stage | None = None


@dataclass(frozen=True)
class StageCount:
    """How many applications the caller may see stand in one stage (在办环节统计)."""

    stage: Stage
    open: int  # 办理中
    paused: int  # 暂停计时（等待客户）


async def open_by_stage(session: AsyncSession, principal: Principal) -> list[StageCount]:
    """The caller's applications still being handled, counted by current stage, in the order
    the stages run; one query."""
    query = visible_to(
        select(Application.current_stage, Application.status, func.count()),
        principal,
    )
    rows = await session.exec(
        query.where(
            col(Application.status).in_([ApplicationStatus.open, ApplicationStatus.paused]),
            col(Application.current_stage).is_not(None),
        ).group_by(col(Application.current_stage), col(Application.status))
    )
    counts: dict[Stage, dict[ApplicationStatus, int]] = defaultdict(dict)
    for stage, status, count in rows.all():
        counts[Stage(stage)][ApplicationStatus(status)] = count
    return [
        StageCount(
            stage,
            counts[stage].get(ApplicationStatus.open, 0),
            counts[stage].get(ApplicationStatus.paused, 0),
        )
        for stage in Stage
        if stage in counts
    ]


async def list_applications(
    session: AsyncSession,
    principal: Principal,
    flt: ApplicationFilter,
    calendar: WorkingCalendar,
    today: date,
    paging: PageParams = FIRST_PAGE,
) -> ApplicationPage:
    """Applications the caller may see, newest first."""
    check_unit_filter(principal, flt.unit)
    query = visible_to(select(Application), principal)
    if flt.status is not None:
        query = query.where(col(Application.status) == flt.status.value)
    if flt.unit is not None:
        query = query.where(col(Application.unit).in_(units.covered([flt.unit])))
    if flt.customer_type is not None:
        query = query.where(col(Application.customer_type) == flt.customer_type.value)
    if flt.stage is not None:
        query = query.where(col(Application.current_stage) == flt.stage.value)
    total, rows = await fetch_page(session, query, paging, col(Application.id).desc())
    ids = [a.id for a in rows]
    stages: dict[int | None, list[ApplicationStage]] = defaultdict(list)
    pauses: dict[int | None, list[ApplicationPause]] = defaultdict(list)
    if ids:
        for stage in (
            await session.exec(
                select(ApplicationStage)
                .where(col(ApplicationStage.application_id).in_(ids))
                .order_by(col(ApplicationStage.seq))
            )
        ).all():
            stages[stage.application_id].append(stage)
        for p in (
            await session.exec(
                select(ApplicationPause).where(col(ApplicationPause.application_id).in_(ids))
            )
        ).all():
            pauses[p.application_id].append(p)
    return ApplicationPage(
        total=total,
        limit=paging.limit,
        offset=paging.offset,
        items=[
            to_public(
                a,
                stages[a.id],
                pauses[a.id],
                calendar,
                today,
                unmasked=principal.role is Role.clerk,
            )
            for a in rows
        ],
    )


async def events(session: AsyncSession, application: Application) -> list[ApplicationEvent]:
    query = (
        select(ApplicationEvent)
        .where(col(ApplicationEvent.application_id) == application.id)
        .order_by(col(ApplicationEvent.seq))
    )
    return list((await session.exec(query)).all())


async def read_log(session: AsyncSession, number: str, principal: Principal) -> list[EventPublic]:
    """The stage log; reasons and payloads (notes, corrected values) masked for other roles."""
    application = await get_application(session, number)
    unmasked = check_reader(application, principal)
    return masked_unless(
        [
            EventPublic.model_validate(e, from_attributes=True)
            for e in await events(session, application)
        ],
        unmasked,
    )
