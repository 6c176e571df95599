"""The scan: warn of stages that became at risk, escalate those that became overdue.

The scan runs only in working time; it marks each warning on the row (``warned_level``) so a
warning is given once per stage clock, and it opens the escalation (督办) of an overdue stage.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, text
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.intake.applications.log import append_event
from services.intake.applications.models import UNWARNED, Application, EventKind
from services.intake.monitoring.models import Escalation, EscalationState, ScanResult
from services.intake.outbox.models import EventType
from services.intake.outbox.service import enqueue
from services.intake.policies.models import STAGE_LABELS
from services.intake.settings import IntakeSettings
from shared.calendar import BEIJING, WorkingCalendar

SCAN_BATCH = 500
SCAN_MAX_PER_RUN = 20_000
"""A scan after a long stop may find many stages at once; the rest waits for the next run."""
SYSTEM = "system"


def working_time(now: datetime, calendar: WorkingCalendar, settings: IntakeSettings) -> str | None:
    """Why ``now`` is outside working time (Beijing working day, office hours), or None."""
    local = now.astimezone(BEIJING)
    if not calendar.is_workday(local.date()):
        return "not a working day (非工作日)"
    if not settings.office_opens <= local.time().replace(tzinfo=None) < settings.office_closes:
        return "outside office hours (非工作时间)"
    return None


async def _claim(
    session: AsyncSession, level: int, indexed: Any, condition: ColumnElement[bool]
) -> list[Application]:
    """Lock a batch of open applications not yet warned at ``level`` (others' locks skipped).

    The unwarned condition is the literal predicate of the partial index on ``indexed`` that
    the scan reads, and the batch is taken in that index's order (ordering by id instead makes
    PostgreSQL walk the primary key past every warned row).
    """
    query = (
        select(Application)
        .where(text(UNWARNED.format(level=level)), condition)
        .order_by(col(indexed))
        .limit(SCAN_BATCH)
        .with_for_update(skip_locked=True)
    )
    return list((await session.exec(query)).all())


async def scan(
    session: AsyncSession,
    *,
    now: datetime,
    calendar: WorkingCalendar,
    settings: IntakeSettings,
) -> ScanResult:
    """Warn of stages that became at risk, escalate those that became overdue, each once.

    Runs only in working time; returns without doing anything otherwise.
    """
    today = now.astimezone(BEIJING).date()
    outside = working_time(now, calendar, settings)
    if outside:
        return ScanResult(ran=False, reason=outside, as_of=today)
    overdue = at_risk = 0
    while overdue < SCAN_MAX_PER_RUN:
        batch = await _claim(session, 2, Application.due_date, col(Application.due_date) < today)
        if not batch:
            break
        for application in batch:
            await _escalate(session, application, now)
        overdue += len(batch)
        await session.flush()
    while at_risk < SCAN_MAX_PER_RUN:
        batch = await _claim(
            session,
            1,
            Application.at_risk_from,
            (col(Application.at_risk_from) <= today) & (col(Application.due_date) >= today),
        )
        if not batch:
            break
        for application in batch:
            application.warned_level = 1
            enqueue(
                session,
                EventType.stage_at_risk,
                subject=application.number,
                data=stage_event_data(application),
                now=now,
            )
        at_risk += len(batch)
        await session.flush()
    return ScanResult(
        ran=True, reason="working time (工作时间)", as_of=today, at_risk=at_risk, overdue=overdue
    )


async def _escalate(session: AsyncSession, application: Application, now: datetime) -> Escalation:
    assert application.id is not None
    assert application.current_stage is not None
    assert application.due_date is not None
    # One 督办 per stage: one withdrawn by a calendar change (services.intake.due_changes) is
    # opened again, at the new due date, when the moved deadline is missed too.
    withdrawn = (
        await session.exec(
            select(Escalation).where(
                col(Escalation.application_id) == application.id,
                col(Escalation.stage_seq) == application.current_seq,
            )
        )
    ).first()
    escalation = withdrawn or Escalation(
        application_id=application.id,
        stage_seq=application.current_seq,
        stage=application.current_stage,
        unit=application.unit,
        supervising_unit=application.supervising_unit,
        customer_type=application.customer_type,
        clerk=application.clerk,
        due_date=application.due_date,
        opened_at=now,
        state=EscalationState.open,
    )
    if withdrawn is not None:
        withdrawn.due_date, withdrawn.opened_at = application.due_date, now
        withdrawn.state = EscalationState.open
        withdrawn.acknowledged_at = withdrawn.acknowledged_by = withdrawn.acknowledgement = None
        withdrawn.resolved_at = withdrawn.resolved_by = withdrawn.resolution = None
    session.add(escalation)
    await session.flush()
    application.warned_level = 2
    append_event(
        session,
        application,
        EventKind.escalation_opened,
        now=now,
        actor=SYSTEM,
        stage=application.current_stage,
        reason=f"超期未办结，督办单位：{application.supervising_unit}",
        payload={"escalation": escalation.id, "due_date": application.due_date.isoformat()},
    )
    data = stage_event_data(application)
    for event_type in (EventType.stage_overdue, EventType.escalation_opened):
        enqueue(session, event_type, subject=application.number, data=data, now=now)
    return escalation


def stage_event_data(application: Application) -> dict[str, Any]:
    """``data`` of the stage events for notify: labels for people, codes for machines."""
    assert application.current_stage is not None
    assert application.due_date is not None
    return {
        "application_number": application.number,
        "stage": STAGE_LABELS[application.current_stage],
        "stage_code": application.current_stage.value,
        "unit": application.unit,
        "customer_type": application.customer_type.value,
        "due_date": application.due_date.isoformat(),
        "clerk": application.clerk,
        "supervising_unit": application.supervising_unit,
    }
