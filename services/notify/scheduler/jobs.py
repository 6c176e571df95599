"""The scheduled jobs (定时任务): thin functions that open their own session and only queue
messages; the delivery worker sends them.

APScheduler stores a job as a reference to a module-level function, so the jobs reach the
running app's engine, client and settings through :data:`runtime`, set when the scheduler starts.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date, datetime

from sqlalchemy.ext.asyncio import AsyncEngine

from services.notify.delivery.windows import DeliveryHours
from services.notify.reminders.reports import ReportReminderRun, queue_report_reminders
from services.notify.reminders.service import ReminderRun, queue_ledger_reminders
from services.notify.reminders.stale import StaleEscalationRun, run_stale_escalations
from services.notify.settings import NotifySettings
from shared.calendar import WorkingCalendar, beijing_date
from shared.clock import Clock
from shared.db import session_scope
from shared.http import ServiceClient

log = logging.getLogger("huodian.notify.scheduler")


@dataclass
class JobRuntime:
    engine: AsyncEngine
    client: ServiceClient
    calendar: WorkingCalendar
    hours: DeliveryHours
    settings: NotifySettings
    clock: Clock
    runs: list[tuple[str, datetime]] = field(default_factory=list)


runtime: JobRuntime | None = None


def _runtime() -> JobRuntime:
    if runtime is None:
        raise RuntimeError("the notify scheduler is not running in this process")
    return runtime


async def ledger_reminders(today: date | None = None) -> ReminderRun:
    """Daily: ledger deadline reminders (N days before, due day, weekly while overdue)."""
    rt = _runtime()
    async with session_scope(rt.engine) as session:
        run = await queue_ledger_reminders(
            session,
            rt.client,
            rt.calendar,
            today=today or beijing_date(rt.clock.now()),
            days_before=rt.settings.reminder_days_before,
            hours=rt.hours,
            now=rt.clock.now(),
        )
    rt.runs.append(("ledger-reminders", rt.clock.now()))
    log.info("ledger reminders: %s", run)
    return run


async def report_reminders(today: date | None = None) -> ReportReminderRun:
    """Daily: reminders of the half-year (25 June) and annual (4 January) reports."""
    rt = _runtime()
    async with session_scope(rt.engine) as session:
        run = await queue_report_reminders(
            session,
            rt.client,
            rt.calendar,
            today=today or beijing_date(rt.clock.now()),
            days_before=rt.settings.report_reminder_days_before,
            hours=rt.hours,
            now=rt.clock.now(),
        )
    rt.runs.append(("report-reminders", rt.clock.now()))
    log.info("report reminders: %s", run)
    return run


async def stale_escalations(today: date | None = None) -> StaleEscalationRun:
    """Daily: escalate ledger items with no status post for too long (更新超期督办)."""
    rt = _runtime()
    run = await run_stale_escalations(
        rt.engine,
        rt.client,
        rt.calendar,
        today=today or beijing_date(rt.clock.now()),
        hours=rt.hours,
        now=rt.clock.now(),
    )
    rt.runs.append(("stale-escalations", rt.clock.now()))
    log.info("stale escalations: %s", run)
    return run
