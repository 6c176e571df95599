"""The notify scheduler: APScheduler 3 with its jobs in notify's database, run by exactly one
replica at a time (the one holding the leader lock); the others stand by and take over.

Jobs persist in the ``scheduled_jobs`` table. A run missed while no replica was up is made up
once when one starts, however late (no grace limit; several missed runs coalesce into one): the
jobs work out what is due *today*, only queue messages, and are idempotent through the dedup keys,
so a late or repeated run is safe. A stored job keeps its pending run unless its trigger changed.
"""

from __future__ import annotations

import asyncio
import logging

from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore  # type: ignore[import-untyped]
from apscheduler.schedulers.asyncio import AsyncIOScheduler  # type: ignore[import-untyped]
from apscheduler.triggers.cron import CronTrigger  # type: ignore[import-untyped]
from sqlalchemy import Engine

from services.notify.scheduler import jobs
from services.notify.scheduler.jobs import JobRuntime
from services.notify.scheduler.models import JOBS_TABLE
from shared.calendar import BEIJING
from shared.leader import LeaderLock
from shared.periodic import Periodic

log = logging.getLogger("huodian.notify.scheduler")


class NotifyScheduler:
    def __init__(self, runtime: JobRuntime, lock: LeaderLock, store_engine: Engine) -> None:
        self.runtime = runtime
        self._lock = lock
        self._store_engine = store_engine
        self._scheduler: AsyncIOScheduler | None = None
        # A leadership check now, then every standby interval (a check handles its own errors).
        self._checks = Periodic(
            "notify-scheduler", self.step, interval=runtime.settings.scheduler_standby_seconds
        )
        self._leading = asyncio.Event()

    @property
    def active(self) -> bool:
        """Whether this replica is the one scheduling."""
        return self._scheduler is not None

    async def wait_until_active(self) -> None:
        await self._leading.wait()

    def start(self) -> None:
        self._checks.start()

    async def stop(self) -> None:
        await self._checks.stop()
        self._stop_scheduling()
        await self._lock.release()

    def _start_scheduling(self) -> None:
        settings = self.runtime.settings
        scheduler = AsyncIOScheduler(
            jobstores={
                "default": SQLAlchemyJobStore(engine=self._store_engine, tablename=JOBS_TABLE)
            },
            job_defaults={
                "coalesce": True,
                "max_instances": 1,
                "misfire_grace_time": None,
            },
            timezone=BEIJING,
        )
        jobs.runtime = self.runtime
        scheduler.start(paused=True)
        at = settings.reminder_time
        for job_id, func in (
            ("ledger-reminders", jobs.ledger_reminders),
            ("report-reminders", jobs.report_reminders),
            ("stale-escalations", jobs.stale_escalations),
        ):
            trigger = CronTrigger(hour=at.hour, minute=at.minute, timezone=BEIJING)
            stored = scheduler.get_job(job_id)
            if stored is None or str(stored.trigger) != str(trigger):
                scheduler.add_job(func, trigger, id=job_id, replace_existing=True)
        scheduler.resume()
        self._scheduler = scheduler
        self._leading.set()
        log.info("this replica leads the notify scheduler")

    def _stop_scheduling(self) -> None:
        if self._scheduler is not None:
            # shutdown() takes effect on a later loop turn; pausing stops job processing now.
            self._scheduler.pause()
            self._scheduler.shutdown(wait=False)
            self._scheduler = None
            self._leading.clear()

    async def step(self) -> None:
        """One leadership check: take the lock and start scheduling, or notice it is lost."""
        try:
            if self._scheduler is None:
                if await self._lock.try_acquire():
                    self._start_scheduling()
            elif not await self._lock.still_held():
                log.warning("the scheduler lock was lost; standing by")
                self._stop_scheduling()
        except Exception:  # the database may be down: stand by and try again
            log.exception("scheduler leadership check failed")
            self._stop_scheduling()
