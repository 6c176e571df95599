"""Escalations (督办) of overdue stages: listed, read, taken up and resolved by the supervising
unit. They are opened by the scan (:mod:`services.intake.monitoring.scan`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func
from sqlalchemy import select as sa_select
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.intake.applications.log import append_event
from services.intake.applications.models import Application, EventKind
from services.intake.monitoring.models import (
    ESCALATION_STATE_LABELS,
    Acknowledgement,
    Escalation,
    EscalationPage,
    EscalationPublic,
    EscalationState,
    Resolution,
)
from services.intake.monitoring.watch import scope
from services.intake.policies.models import STAGE_LABELS, Stage
from shared import units
from shared.auth import Principal, Role
from shared.errors import Conflict, Forbidden, NotFound
from shared.masking import masked_unless
from shared.pagination import FIRST_PAGE, PageParams, fetch_page
from shared.vocab import CustomerType

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
    conditions = scope(principal, Escalation.unit, Escalation.supervising_unit)
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
