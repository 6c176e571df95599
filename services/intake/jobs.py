"""The intake process's background work: delivering the outbox, the watch scan, and the stage
record's checkpoints and verification.

One asyncio task, started and stopped with the app (``on_startup``/``on_shutdown``), every job
being a plain function that tests call directly. The scan is cheap when there is nothing new
(partial indexes) and skips itself outside working time; several processes are safe because
both jobs lock the rows they take (``SKIP LOCKED``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from fastapi import FastAPI

from services.intake.integrity.checkpoints import Checkpoint
from services.intake.integrity.service import checkpoint_now, raise_alert, verify_everything
from services.intake.integrity.sweep import Report
from services.intake.monitoring.models import ScanResult
from services.intake.monitoring.service import scan
from services.intake.outbox.models import DeliveryRun
from services.intake.outbox.service import deliver_pending
from services.intake.settings import IntakeSettings
from shared.db import session_scope

log = logging.getLogger("huodian.intake.jobs")


async def run_scan(app: FastAPI) -> ScanResult:
    """One watch scan, in its own transaction, at the app's current time."""
    async with session_scope(app.state.engine) as session:
        return await scan(
            session,
            now=app.state.clock.now(),
            calendar=app.state.calendar,
            settings=app.state.intake_settings,
        )


async def run_delivery(app: FastAPI) -> DeliveryRun:
    return await deliver_pending(
        app.state.engine, app.state.client, app.state.intake_settings, now=app.state.clock.now()
    )


async def run_checkpoint(app: FastAPI) -> Checkpoint:
    """A checkpoint of the stage log in the file outside the database (and its copy queued)."""
    return await checkpoint_now(
        app.state.engine,
        app.state.settings,
        app.state.intake_settings,
        now=app.state.clock.now(),
    )


async def run_verify(app: FastAPI) -> Report:
    """Verify everything; a failure becomes an ``intake.log.verify_failed`` alert event."""
    now = app.state.clock.now()
    report = await verify_everything(
        app.state.engine, app.state.settings, app.state.intake_settings, app.state.client, now=now
    )
    if not report.valid:
        await raise_alert(app.state.engine, report, now=now)
    return report


async def _loop(app: FastAPI) -> None:
    settings: IntakeSettings = app.state.intake_settings
    loop = asyncio.get_running_loop()
    next_scan = next_checkpoint = loop.time()
    next_verify = loop.time() + settings.verify_interval_seconds
    while True:
        try:
            await run_delivery(app)
            if loop.time() >= next_scan:
                result = await run_scan(app)
                next_scan = loop.time() + settings.scan_interval_seconds
                if result.ran and (result.at_risk or result.overdue):
                    log.info("watch: %d at risk, %d overdue", result.at_risk, result.overdue)
            if loop.time() >= next_checkpoint:
                next_checkpoint = loop.time() + settings.checkpoint_interval_seconds
                await run_checkpoint(app)
            if loop.time() >= next_verify:
                next_verify = loop.time() + settings.verify_interval_seconds
                await run_verify(app)
        except Exception:  # the loop must outlive a failed pass; the next one retries
            log.exception("intake background pass failed")
        await asyncio.sleep(settings.outbox_interval_seconds)


async def start_jobs(app: FastAPI) -> None:
    settings: IntakeSettings = app.state.intake_settings
    app.state.jobs = asyncio.create_task(_loop(app)) if settings.background_jobs else None


async def stop_jobs(app: FastAPI) -> None:
    task: asyncio.Task[None] | None = getattr(app.state, "jobs", None)
    if task is None:
        return
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    app.state.jobs = None
