"""Reminder runs over HTTP (提醒任务): what the scheduler does daily, on demand."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request

from services.notify.deps import CurrentOperator, Hours
from services.notify.reminders.reports import ReportReminderRun, queue_report_reminders
from services.notify.reminders.service import ReminderRun, queue_ledger_reminders
from services.notify.reminders.stale import StaleEscalationRun, run_stale_escalations
from shared.app import Client, Session
from shared.calendar import beijing_date
from shared.clock import Now
from shared.validation import Day

router = APIRouter(tags=["reminders"])


@router.post(
    "/reminders/ledger-deadlines/run",
    summary="Queue today's ledger deadline reminders (生成任务到期提醒)",
)
async def run_ledger_reminders(
    _operator: CurrentOperator,
    session: Session,
    client: Client,
    hours: Hours,
    request: Request,
    now: Now,
    as_of: Day | None = None,
    days_before: Annotated[int, Query(ge=0, le=60)] = 7,
) -> ReminderRun:
    return await queue_ledger_reminders(
        session,
        client,
        request.app.state.calendar,
        today=as_of or beijing_date(now),
        days_before=days_before,
        hours=hours,
        now=now,
    )


@router.post(
    "/reminders/reports/run",
    summary="Queue reminders of the half-year and annual reports due soon (报送提醒)",
)
async def run_report_reminders(
    _operator: CurrentOperator,
    session: Session,
    client: Client,
    hours: Hours,
    request: Request,
    now: Now,
    as_of: Day | None = None,
    days_before: Annotated[int, Query(ge=1, le=30)] = 5,
) -> ReportReminderRun:
    return await queue_report_reminders(
        session,
        client,
        request.app.state.calendar,
        today=as_of or beijing_date(now),
        days_before=days_before,
        hours=hours,
        now=now,
    )


@router.post(
    "/reminders/stale-items/run",
    summary="Escalate ledger items with no status post for too long (更新超期督办)",
)
async def run_stale_item_escalations(
    _operator: CurrentOperator,
    client: Client,
    hours: Hours,
    request: Request,
    now: Now,
    as_of: Day | None = None,
) -> StaleEscalationRun:
    return await run_stale_escalations(
        request.app.state.engine,
        client,
        request.app.state.calendar,
        today=as_of or beijing_date(now),
        hours=hours,
        now=now,
    )
