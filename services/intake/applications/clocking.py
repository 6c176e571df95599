"""The clock applied (计时): every derived value of an application recomputed from its facts.

:func:`refresh` is the one place the clock is applied, whether after a transition, a calendar
load or a policy change.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import ColumnElement, and_
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.intake.applications import clock
from services.intake.applications.models import (
    Application,
    ApplicationPause,
    ApplicationStage,
    ApplicationStatus,
    WatchState,
)
from shared.calendar import WorkingCalendar


@dataclass(frozen=True)
class Clocking:
    """What applying the clock needs besides the facts: the calendar and the warning share."""

    calendar: WorkingCalendar
    at_risk_percent: int


def refresh(
    application: Application,
    stages: Sequence[ApplicationStage],
    pauses: Sequence[ApplicationPause],
    clocking: Clocking,
) -> None:
    """Recompute every derived value of one application from its facts."""
    calendar = clocking.calendar
    paused_by_stage: dict[int, int] = defaultdict(int)
    provisional_by_stage: dict[int, bool] = defaultdict(bool)
    for pause in pauses:
        if pause.ended_day is None:
            continue
        days, provisional = clock.paused_days(calendar, pause.started_day, pause.ended_day)
        pause.days = days
        paused_by_stage[pause.stage_seq] += days
        provisional_by_stage[pause.stage_seq] |= provisional
    application.paused_days = sum(paused_by_stage.values())
    for stage in stages:
        stage.paused_days = paused_by_stage[stage.seq]
        if stage.started_day is None:
            stage.due_date = None
            continue
        deadline = clock.stage_deadline(calendar, application, stage)
        stage.due_date = deadline.due if deadline else None
        # An open stage is provisional if its due date is; a closed one if its count was.
        stage.provisional = (deadline is not None and deadline.provisional) or provisional_by_stage[
            stage.seq
        ]
        if stage.completed_day is not None:
            time = clock.spent(
                calendar,
                stage.started_day,
                stage.completed_day,
                stage.paused_days,
                provisional_by_stage[stage.seq],
            )
            stage.elapsed_days = time.elapsed
            stage.grid_days = time.grid
            stage.within_limit = (
                time.grid <= stage.limit_days if stage.limit_days is not None else None
            )
            stage.provisional = time.provisional
    application.elapsed_days = application.grid_days = application.within_limit = None
    if application.status is ApplicationStatus.connected:
        assert application.ended_day is not None
        whole = clock.spent(
            calendar,
            application.accepted_day,
            application.ended_day,
            application.paused_days,
            any(provisional_by_stage.values()),
        )
        application.elapsed_days, application.grid_days = whole.elapsed, whole.grid
        application.within_limit = whole.grid <= application.total_limit_days
    if application.status is not ApplicationStatus.open:
        application.due_date = application.at_risk_from = None
        application.due_provisional = False
        return
    current = stages[application.current_seq]
    assert current.started_day is not None
    if application.staged:
        assert current.limit_days is not None
        start, limit, paused = current.started_day, current.limit_days, current.paused_days
    else:
        start, limit = application.accepted_day, application.total_limit_days
        paused = application.paused_days
    running = clock.watch(calendar, start, limit, paused, clocking.at_risk_percent)
    application.due_date = running.due
    application.at_risk_from = running.at_risk_from
    application.due_provisional = running.provisional


def watch_state(application: Application, today: date) -> WatchState | None:
    if application.status is ApplicationStatus.paused:
        return WatchState.paused
    if application.status is not ApplicationStatus.open or application.due_date is None:
        return None
    if today > application.due_date:
        return WatchState.overdue
    assert application.at_risk_from is not None
    return WatchState.at_risk if today >= application.at_risk_from else WatchState.on_time


async def refresh_applications(
    session: AsyncSession, ids: Sequence[int], clocking: Clocking
) -> int:
    """Recompute the given applications; returns how many of them changed."""
    if not ids:
        return 0
    applications = (
        await session.exec(select(Application).where(col(Application.id).in_(ids)))
    ).all()
    stages: dict[int, list[ApplicationStage]] = defaultdict(list)
    for stage in (
        await session.exec(
            select(ApplicationStage)
            .where(col(ApplicationStage.application_id).in_(ids))
            .order_by(col(ApplicationStage.application_id), col(ApplicationStage.seq))
        )
    ).all():
        stages[stage.application_id].append(stage)
    pauses: dict[int, list[ApplicationPause]] = defaultdict(list)
    for pause in (
        await session.exec(
            select(ApplicationPause)
            .where(col(ApplicationPause.application_id).in_(ids))
            .order_by(col(ApplicationPause.id))
        )
    ).all():
        pauses[pause.application_id].append(pause)
    changed = 0
    for application in applications:
        assert application.id is not None
        own = stages[application.id]
        before = _derived(application, own)
        refresh(application, own, pauses[application.id], clocking)
        changed += _derived(application, own) != before
    await session.flush()
    return changed


def _derived(application: Application, stages: Sequence[ApplicationStage]) -> tuple[Any, ...]:
    return (
        application.due_date,
        application.at_risk_from,
        application.due_provisional,
        application.paused_days,
        application.grid_days,
        tuple(
            (s.due_date, s.elapsed_days, s.grid_days, s.within_limit, s.provisional) for s in stages
        ),
    )


_BATCH = 500


async def _recompute_where(
    session: AsyncSession, clocking: Clocking, condition: ColumnElement[bool]
) -> int:
    """Recompute the applications matching ``condition``, a batch of ids at a time."""
    changed, after = 0, 0
    while True:
        ids = [
            i
            for i in (
                await session.exec(
                    select(Application.id)
                    .where(col(Application.id) > after, condition)
                    .order_by(col(Application.id))
                    .limit(_BATCH)
                )
            ).all()
            if i is not None
        ]
        if not ids:
            return changed
        changed += await refresh_applications(session, ids, clocking)
        after = ids[-1]


def touches_year(year: int) -> ColumnElement[bool]:
    """Applications whose time may touch ``year`` (what a calendar load recomputes)."""
    first, last = date(year, 1, 1), date(year, 12, 31)
    return and_(
        col(Application.accepted_day) <= last,
        col(Application.ended_day).is_(None) | (col(Application.ended_day) >= first),
    )


def is_live() -> ColumnElement[bool]:
    """Open or paused applications (what a process starting with a new calendar recomputes)."""
    return col(Application.status).in_(
        [ApplicationStatus.open.value, ApplicationStatus.paused.value]
    )


async def recompute_open(session: AsyncSession, clocking: Clocking) -> int:
    """Recompute the running clock of every open application (after a settings change)."""
    is_open = col(Application.status) == ApplicationStatus.open.value
    return await _recompute_where(session, clocking, is_open)
