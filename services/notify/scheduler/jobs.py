"""The scheduled jobs (定时任务): thin functions that open their own session and only queue
messages; the delivery worker sends them. Each run has a request id of its own, logged when it
starts and kept on the messages it queues (and the delivery worker's lines about them).

APScheduler stores a job as a reference to a module-level function, so the jobs reach the
running app's engine, client and settings through :data:`runtime`, set when the scheduler starts.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Protocol, TypeVar

from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel.ext.asyncio.session import AsyncSession

from services.notify.delivery.windows import DeliveryHours
from services.notify.reminders.reports import ReportReminderRun, queue_report_reminders
from services.notify.reminders.service import ReminderRun, queue_ledger_reminders
from services.notify.reminders.stale import StaleEscalationRun, run_stale_escalations
from services.notify.scheduler.runs import claim_run, finish_run
from services.notify.settings import NotifySettings
from shared.calendar import WorkingCalendar, beijing_date
from shared.clock import Clock
from shared.db import session_scope
from shared.http import ServiceClient
from shared.logs import job_run

log = logging.getLogger("huodian.notify.scheduler")
R = TypeVar("R")
R_co = TypeVar("R_co", covariant=True)


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


async def _once(job_id: str, today: date | None, work: Callable[[date], Awaitable[R]]) -> R | None:
    """Run ``work`` for the day unless it already ran for that Beijing date (runs.py), under a
    request id of the run's own (``shared.logs.job_run``): its lines and messages carry it."""
    with job_run(log, job_id):
        return await _once_today(job_id, today, work)


async def _once_today(
    job_id: str, today: date | None, work: Callable[[date], Awaitable[R]]
) -> R | None:
    rt = _runtime()
    day = today or beijing_date(rt.clock.now())
    async with session_scope(rt.engine) as session:
        claimed = await claim_run(session, job_id, day, rt.clock.now())
    if not claimed:
        log.info("%s already ran for %s; skipped", job_id, day)
        return None
    result = await work(day)
    async with session_scope(rt.engine) as session:
        await finish_run(session, job_id, day, str(result), rt.clock.now())
    rt.runs.append((job_id, rt.clock.now()))
    log.info("%s: %s", job_id, result)
    return result


class QueueReminders(Protocol[R_co]):
    """``queue_ledger_reminders`` and ``queue_report_reminders``: one day's reminders queued."""

    def __call__(
        self,
        session: AsyncSession,
        client: ServiceClient,
        calendar: WorkingCalendar,
        *,
        today: date,
        days_before: int,
        hours: DeliveryHours,
        now: datetime,
    ) -> Awaitable[R_co]: ...


async def _reminders(
    job_id: str, today: date | None, queue: QueueReminders[R], days_before: int
) -> R | None:
    rt = _runtime()

    async def work(day: date) -> R:
        async with session_scope(rt.engine) as session:
            return await queue(
                session,
                rt.client,
                rt.calendar,
                today=day,
                days_before=days_before,
                hours=rt.hours,
                now=rt.clock.now(),
            )

    return await _once(job_id, today, work)


async def ledger_reminders(today: date | None = None) -> ReminderRun | None:
    """Daily: ledger deadline reminders (N days before, due day, weekly while overdue)."""
    days_before = _runtime().settings.reminder_days_before
    return await _reminders("ledger-reminders", today, queue_ledger_reminders, days_before)


async def report_reminders(today: date | None = None) -> ReportReminderRun | None:
    """Daily: reminders of the half-year (25 June) and annual (4 January) reports."""
    days_before = _runtime().settings.report_reminder_days_before
    return await _reminders("report-reminders", today, queue_report_reminders, days_before)


async def stale_escalations(today: date | None = None) -> StaleEscalationRun | None:
    """Daily: escalate ledger items with no status post for too long (更新超期督办)."""
    rt = _runtime()

    async def work(day: date) -> StaleEscalationRun:
        return await run_stale_escalations(
            rt.engine, rt.client, rt.calendar, today=day, hours=rt.hours, now=rt.clock.now()
        )

    return await _once("stale-escalations", today, work)
