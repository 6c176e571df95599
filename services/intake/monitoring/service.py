"""The watch (监测预警): which open stages are at risk or overdue, escalations, the scan.

The lists are single SQL queries on the application row's stored due date and first at-risk
day, compared with today, and served by the indexes declared on ``applications``. The scan
runs only in working time; it marks each warning on the row (``warned_level``) so a warning is
given once per stage clock, and it opens the escalation of an overdue stage.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import ColumnElement, func, text
from sqlalchemy import select as sa_select
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.intake.access import check_unit_filter
from services.intake.applications.log import append_event
from services.intake.applications.models import (
    UNWARNED,
    Application,
    ApplicationStatus,
    EventKind,
)
from services.intake.monitoring.models import (
    ESCALATION_STATE_LABELS,
    Acknowledgement,
    Escalation,
    EscalationPage,
    EscalationPublic,
    EscalationState,
    Resolution,
    ScanResult,
    WatchItem,
    WatchLevel,
    WatchPage,
)
from services.intake.outbox.models import EventType
from services.intake.outbox.service import enqueue
from services.intake.policies.models import STAGE_LABELS, Stage
from services.intake.settings import IntakeSettings
from shared import units
from shared.auth import Principal, Role
from shared.calendar import BEIJING, WorkingCalendar
from shared.db import AnySelect
from shared.errors import Conflict, Forbidden, NotFound
from shared.masking import masked_unless
from shared.pagination import FIRST_PAGE, PageParams, fetch_page
from shared.vocab import CustomerType

SCAN_BATCH = 500
SCAN_MAX_PER_RUN = 20_000
"""A scan after a long stop may find many stages at once; the rest waits for the next run."""
SYSTEM = "system"


@dataclass(frozen=True)
class WatchFilter:
    unit: str | None = None
    customer_type: CustomerType | None = None
    stage: Stage | None = None


def _scope(principal: Principal, unit: Any, supervising: Any) -> list[ColumnElement[bool]]:
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
        *_scope(principal, Application.unit, Application.supervising_unit),
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


# ---- escalations -----------------------------------------------------------------------------


_ESCALATION_COLUMNS = [col(getattr(Escalation, name)) for name in Escalation.model_fields]


def _public(escalation: Escalation | Any, number: str) -> EscalationPublic:
    """``escalation``: the entity, or a row of its columns (:func:`list_escalations`)."""
    assert escalation.id is not None
    return EscalationPublic(
        id=escalation.id,
        number=number,
        stage=escalation.stage,
        stage_label=STAGE_LABELS[escalation.stage],
        unit=escalation.unit,
        supervising_unit=escalation.supervising_unit,
        customer_type=escalation.customer_type,
        clerk=escalation.clerk,
        due_date=escalation.due_date,
        opened_at=escalation.opened_at,
        state=escalation.state,
        state_label=ESCALATION_STATE_LABELS[escalation.state],
        acknowledged_at=escalation.acknowledged_at,
        acknowledged_by=escalation.acknowledged_by,
        acknowledgement=escalation.acknowledgement,
        resolved_at=escalation.resolved_at,
        resolved_by=escalation.resolved_by,
        resolution=escalation.resolution,
    )


def _shown(public: EscalationPublic, principal: Principal) -> EscalationPublic:
    """Notes (受理意见, 处理情况) as the caller may see them: unmasked for the unit's clerks
    (who only ever see their own units' escalations), masked for supervisors and admins."""
    return masked_unless(public, principal.role is Role.clerk)


@dataclass(frozen=True)
class EscalationFilter:
    state: EscalationState | None = None
    unit: str | None = None
    supervising_unit: str | None = None
    customer_type: CustomerType | None = None
    stage: Stage | None = None


async def list_escalations(
    session: AsyncSession,
    principal: Principal,
    flt: EscalationFilter,
    paging: PageParams = FIRST_PAGE,
) -> EscalationPage:
    conditions = _scope(principal, Escalation.unit, Escalation.supervising_unit)
    if flt.state is not None:
        conditions.append(col(Escalation.state) == flt.state.value)
    if flt.unit is not None:
        conditions.append(col(Escalation.unit).in_(units.covered([flt.unit])))
    if flt.supervising_unit is not None:
        conditions.append(col(Escalation.supervising_unit) == flt.supervising_unit)
    if flt.customer_type is not None:
        conditions.append(col(Escalation.customer_type) == flt.customer_type.value)
    if flt.stage is not None:
        conditions.append(col(Escalation.stage) == flt.stage.value)
    # Counted on escalations alone: every row has its application (a NOT NULL foreign key), and
    # joining each counted row to applications tripled the time of a 30,000-row count.
    count = sa_select(func.count()).select_from(Escalation).where(*conditions)
    # Columns, not entities: the page is only shaped, never changed, and loading 50 entities
    # into the session (identity map, instance state) cost as much as the raw SQL itself.
    query = (
        sa_select(*_ESCALATION_COLUMNS, col(Application.number))
        .join(Application, col(Application.id) == col(Escalation.application_id))
        .where(*conditions)
    )
    total, rows = await fetch_page(
        session,
        query,
        paging,
        col(Escalation.opened_at).desc(),
        col(Escalation.id).desc(),
        count=count,
    )
    return EscalationPage(
        total=total,
        limit=paging.limit,
        offset=paging.offset,
        items=[_shown(_public(row, row.number), principal) for row in rows],
    )


async def _escalation(
    session: AsyncSession, escalation_id: int, *, for_update: bool = False
) -> tuple[Escalation, Application]:
    query = select(Escalation).where(col(Escalation.id) == escalation_id)
    if for_update:
        query = query.with_for_update()
    escalation = (await session.exec(query)).first()
    if escalation is None:
        raise NotFound(f"there is no escalation {escalation_id}", code="escalation_not_found")
    app_query = select(Application).where(col(Application.id) == escalation.application_id)
    if for_update:
        app_query = app_query.with_for_update()
    application = (await session.exec(app_query)).one()
    return escalation, application


def _check_reader(escalation: Escalation, principal: Principal) -> None:
    if principal.role is Role.clerk:
        units.require_covers(
            principal.units, escalation.unit, "the escalation concerns another unit"
        )
    if principal.role is Role.supervisor:
        units.require_covers(
            principal.units,
            escalation.supervising_unit,
            "the escalation is for another supervising unit",
        )


def _check_handler(escalation: Escalation, principal: Principal) -> None:
    if principal.role is Role.admin:
        return
    if principal.role is not Role.supervisor:
        raise Forbidden(
            "escalations are handled by supervisors (监管督办人员)", code="supervisor_required"
        )
    _check_reader(escalation, principal)


async def get_escalation(
    session: AsyncSession, escalation_id: int, principal: Principal
) -> EscalationPublic:
    escalation, application = await _escalation(session, escalation_id)
    _check_reader(escalation, principal)
    return _shown(_public(escalation, application.number), principal)


async def acknowledge(
    session: AsyncSession,
    escalation_id: int,
    data: Acknowledgement,
    *,
    principal: Principal,
    now: datetime,
) -> EscalationPublic:
    """The supervising unit takes the escalation up (受理督办)."""
    escalation, application = await _escalation(session, escalation_id, for_update=True)
    _check_handler(escalation, principal)
    if escalation.state is not EscalationState.open:
        raise Conflict(
            f"the escalation is {ESCALATION_STATE_LABELS[escalation.state]}",
            code="escalation_not_open",
        )
    escalation.state = EscalationState.acknowledged
    escalation.acknowledged_at, escalation.acknowledged_by = now, principal.subject
    escalation.acknowledgement = data.note
    append_event(
        session,
        application,
        EventKind.escalation_acknowledged,
        now=now,
        actor=principal.subject,
        stage=escalation.stage,
        reason=data.note or None,
        payload={"escalation": escalation.id},
    )
    await session.flush()
    return _shown(_public(escalation, application.number), principal)


async def resolve(
    session: AsyncSession,
    escalation_id: int,
    data: Resolution,
    *,
    principal: Principal,
    now: datetime,
) -> EscalationPublic:
    """Record how the escalation was handled (督办办结)."""
    escalation, application = await _escalation(session, escalation_id, for_update=True)
    _check_handler(escalation, principal)
    if escalation.state is EscalationState.resolved:
        raise Conflict("the escalation is resolved already", code="escalation_resolved")
    escalation.state = EscalationState.resolved
    escalation.resolved_at, escalation.resolved_by = now, principal.subject
    escalation.resolution = data.resolution
    append_event(
        session,
        application,
        EventKind.escalation_resolved,
        now=now,
        actor=principal.subject,
        stage=escalation.stage,
        reason=data.resolution,
        payload={"escalation": escalation.id},
    )
    await session.flush()
    return _shown(_public(escalation, application.number), principal)


# ---- the scan --------------------------------------------------------------------------------


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
