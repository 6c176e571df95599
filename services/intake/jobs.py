"""The intake process's background work: delivering the outbox, the watch scan, and the stage
record's checkpoints and verification.

One :class:`shared.periodic.Periodic` task, started and stopped with the app
(``on_startup``/``on_shutdown``), every job being a plain function that tests call directly; a
failed pass is logged and tried again after a backoff (at most a minute apart). The scan is
cheap when there is nothing new (partial indexes) and skips itself outside working time;
several processes are safe because both jobs lock the rows they take (``SKIP LOCKED``).

The integrity jobs — the stage record's checkpoints (检查点) and its verification (核验) — run
once across replicas: only the replica holding the integrity lock (``shared.leader``: a
PostgreSQL advisory lock, or a file lock beside the SQLite database) runs them; the others try
to take the lock on every pass, so a standby takes over within one pass when the leader dies.

The same leader brings the live clocks up to its calendar (:func:`bring_clocks_up`) when it
takes the lead — at start-up (:func:`restore_calendar`) or taking over from a leader that
stopped — so the deadlines a newer calendar moves are recomputed, recorded and told once, not
by every replica, and the verification it runs then sees no drift.

Each run of a job (a scan, a checkpoint, a verification) has a request id of its own, logged
when it starts: the events it queues carry it in the outbox and on to notify, so a message
caused by a job is followed back to the run that queued it, as a request's is to the request.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from fastapi import FastAPI

from services.intake.applications.clocking import Clocking
from services.intake.due_changes.service import LoadOutcome, recompute_and_record
from services.intake.integrity.checkpoints import Checkpoint
from services.intake.integrity.clock_record import STARTUP_ACTOR
from services.intake.integrity.service import checkpoint_now, raise_alert, verify_everything
from services.intake.integrity.sweep import Report
from services.intake.monitoring.models import ScanResult
from services.intake.monitoring.scan import scan
from services.intake.outbox.models import DeliveryRun
from services.intake.outbox.service import deliver_pending
from services.intake.settings import IntakeSettings
from services.intake.workdays.service import attach_calendar
from shared.db import session_scope
from shared.leader import LeaderLock, leader_lock
from shared.logs import job_run as shared_job_run
from shared.periodic import Periodic
from shared.settings import Settings

log = logging.getLogger("huodian.intake.jobs")
RETRY_CAP_SECONDS = 60.0


def job_run(job: str) -> contextlib.AbstractContextManager[str]:
    """Serve one run of ``job`` under a new request id, logged as it starts."""
    return shared_job_run(log, job)


async def run_scan(app: FastAPI) -> ScanResult:
    """One watch scan, in its own transaction, at the app's current time."""
    with job_run("watch"):
        return await _scan(app)


async def _scan(app: FastAPI) -> ScanResult:
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
    with job_run("checkpoint"):
        return await checkpoint_now(
            app.state.engine,
            app.state.settings,
            app.state.intake_settings,
            now=app.state.clock.now(),
        )


async def run_verify(app: FastAPI) -> Report:
    """Verify everything; a failure becomes an ``intake.log.verify_failed`` alert event."""
    now = app.state.clock.now()
    with job_run("verify"):
        report = await verify_everything(
            app.state.engine,
            app.state.settings,
            app.state.intake_settings,
            app.state.client,
            now=now,
        )
        if not report.valid:
            await raise_alert(app.state.engine, report, now=now)
    return report


def integrity_lock(app: FastAPI) -> LeaderLock:
    """This replica's hold on the integrity jobs (made once per app)."""
    lock: LeaderLock | None = getattr(app.state, "integrity_lock", None)
    if lock is None:
        settings: Settings = app.state.settings
        config: IntakeSettings = app.state.intake_settings
        lock = leader_lock(
            app.state.engine, settings.var_dir / "intake-integrity.lock", config.integrity_lock_id
        )
        app.state.integrity_lock = lock
    return lock


async def leads_integrity(app: FastAPI) -> bool:
    """Whether this replica runs the integrity jobs now: it holds the lock, or has just taken it."""
    lock = integrity_lock(app)
    was_leading = bool(getattr(app.state, "integrity_leader", False))
    leads = await lock.try_acquire() and await lock.still_held()
    if leads and not was_leading:
        log.info("integrity jobs: this replica leads (checkpoints, verification)")
    elif was_leading and not leads:
        log.warning("integrity jobs: this replica lost the lock; another replica runs them")
    app.state.integrity_leader = leads
    return leads


async def bring_clocks_up(app: FastAPI) -> LoadOutcome:
    """Recompute every live clock under ``app.state.calendar``, in its own transaction; each
    deadline that moved is recorded, its obsolete warnings cleared and those concerned told, as
    a calendar load does (:func:`services.intake.due_changes.service.recompute_and_record`).

    The calendar a process starts with may differ from the one the stored due dates were
    computed under (a newer ``chinesecalendar``, predicted holidays for an unpublished year, a
    changed warning share): recomputing keeps the stored figures what the clock says, so the
    integrity check (which recomputes them) reports tampering, not drift.
    """
    config: IntakeSettings = app.state.intake_settings
    with job_run("calendar"):
        async with session_scope(app.state.engine) as session:
            outcome = await recompute_and_record(
                session,
                Clocking(app.state.calendar, config.at_risk_percent),
                None,
                actor=STARTUP_ACTOR,
                now=app.state.clock.now(),
            )
    if outcome.moved:
        log.info("calendar: %d deadlines moved at start-up, recorded and told", outcome.moved)
    return outcome


async def restore_calendar(app: FastAPI) -> None:
    """Startup hook: ``app.state.calendar`` with the years loaded earlier; then, in a process
    that runs the background jobs and takes the integrity lead, every live clock brought up to
    it (:func:`bring_clocks_up`). The other processes only attach the calendar: the leader does
    the rest once for all (a process without jobs must not take the lock it would never use)."""
    await attach_calendar(app)
    config: IntakeSettings = app.state.intake_settings
    if config.background_jobs and await leads_integrity(app):
        await bring_clocks_up(app)


async def run_integrity(
    app: FastAPI, *, checkpoint: bool, verify: bool
) -> tuple[Checkpoint | None, Report | None] | None:
    """The integrity jobs that are due, if this replica leads; None if another one does. A
    replica taking over the lead first brings the live clocks up to its calendar."""
    was_leading = bool(getattr(app.state, "integrity_leader", False))
    if not await leads_integrity(app):
        return None
    if not was_leading:
        await bring_clocks_up(app)
    written = await run_checkpoint(app) if checkpoint else None
    report = await run_verify(app) if verify else None
    return written, report


class _Pass:
    """One pass of the background work (a :class:`shared.periodic.Periodic` tick): the outbox
    every pass, the scan and the integrity jobs when their own intervals are up."""

    def __init__(self, app: FastAPI) -> None:
        self._app = app
        self._settings: IntakeSettings = app.state.intake_settings
        now = asyncio.get_running_loop().time()
        self._next_scan = self._next_checkpoint = now
        self._next_verify = now + self._settings.verify_interval_seconds

    async def __call__(self) -> None:
        app, settings = self._app, self._settings
        clock = asyncio.get_running_loop().time  # monotonic, for the intervals only
        await run_delivery(app)
        if clock() >= self._next_scan:
            result = await run_scan(app)
            self._next_scan = clock() + settings.scan_interval_seconds
            if result.ran and (result.at_risk or result.overdue):
                log.info("watch: %d at risk, %d overdue", result.at_risk, result.overdue)
        checkpoint, verify = clock() >= self._next_checkpoint, clock() >= self._next_verify
        if checkpoint or verify:
            ran = await run_integrity(app, checkpoint=checkpoint, verify=verify)
            # A standby checks again on the next pass; the leader keeps its intervals.
            if ran is not None and checkpoint:
                self._next_checkpoint = clock() + settings.checkpoint_interval_seconds
            if ran is not None and verify:
                self._next_verify = clock() + settings.verify_interval_seconds


async def start_jobs(app: FastAPI) -> None:
    settings: IntakeSettings = app.state.intake_settings
    app.state.jobs = None
    if settings.background_jobs:
        app.state.jobs = Periodic(
            "intake background pass",
            _Pass(app),
            interval=settings.outbox_interval_seconds,
            retry_cap=RETRY_CAP_SECONDS,
        )
        app.state.jobs.start()


async def stop_jobs(app: FastAPI) -> None:
    jobs: Periodic | None = getattr(app.state, "jobs", None)
    if jobs is not None:
        await jobs.stop()  # a pass under way finishes first
        app.state.jobs = None
    lock: LeaderLock | None = getattr(app.state, "integrity_lock", None)
    if lock is not None:
        await lock.release()  # a standby takes over on its next pass
        app.state.integrity_leader = False
