"""What connecting the power (装表接电) requires of the external-line works.

Called by :func:`services.intake.flows.service.complete_stage` when the last stage is
completed, so it depends on nothing but the works' own table.
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.intake.applications.models import Application
from services.intake.external_lines.models import (
    APPROVAL_STATE_LABELS,
    BLOCKING_STATES,
    ExternalLineRecord,
)
from services.intake.rules.external_lines import load_external_line_policy, push_due_date
from shared.calendar import WorkingCalendar, beijing_date
from shared.errors import Conflict


def mark_completed(
    works: ExternalLineRecord,
    *,
    jurisdiction: str,
    actor: str,
    now: datetime,
    calendar: WorkingCalendar,
) -> None:
    """The works are complete (竣工) now: the push duty starts where the jurisdiction has one."""
    works.completed_at, works.completed_on, works.completed_by = now, beijing_date(now), actor
    works.push_due_on = push_due_date(
        works.completed_on,
        policy=load_external_line_policy(jurisdiction),
        working_calendar=calendar,
    )


async def external_line_ready_to_connect(
    session: AsyncSession,
    application: Application,
    *,
    actor: str,
    now: datetime,
    calendar: WorkingCalendar,
) -> None:
    """Refuse to connect while the works' approval is pending or refused (409
    ``external_line_not_approved``); works not yet marked complete are complete by now."""
    works = (
        await session.exec(
            select(ExternalLineRecord).where(
                col(ExternalLineRecord.application_id) == application.id
            )
        )
    ).first()
    if works is None:
        return
    if works.approval_state in BLOCKING_STATES:
        raise Conflict(
            f"the external-line works are {APPROVAL_STATE_LABELS[works.approval_state]}; "
            "the power is connected once they are approved (外线工程未取得审批，不能接电)",
            code="external_line_not_approved",
        )
    if works.completed_at is None:
        mark_completed(
            works, jurisdiction=application.jurisdiction, actor=actor, now=now, calendar=calendar
        )
        session.add(works)
