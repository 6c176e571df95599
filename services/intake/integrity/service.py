"""The integrity work as the CLI, the API and the background job run it (完整性校验与锚定)."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from services.intake.applications.clocking import Clocking
from services.intake.flows.stage_log import write_log_through
from services.intake.integrity.checkpoints import Checkpoint, checkpoint_path, write_checkpoint
from services.intake.integrity.sweep import Progress, Report, verify_all
from services.intake.outbox.models import EventType
from services.intake.outbox.service import enqueue
from services.intake.settings import IntakeSettings
from services.intake.workdays.service import stored_calendar
from shared.calendar import CalendarDataError, WorkingCalendar, beijing_date
from shared.db import session_scope
from shared.errors import UpstreamUnavailable
from shared.http import ServiceClient
from shared.settings import Settings

log = logging.getLogger("huodian.intake.integrity")
COPY_TYPE = EventType.log_checkpoint.value


async def fetch_copy(client: ServiceClient) -> tuple[dict[str, Any] | None, str | None]:
    """The last checkpoint copy notify holds, or why it could not be had."""
    try:
        response = await client.request(
            "notify", "GET", "/events/latest", params={"type": COPY_TYPE}
        )
    except UpstreamUnavailable as exc:
        return None, f"notify unreachable ({exc}): the file was not compared with its copy"
    if response.status_code == 404:
        return None, "notify holds no checkpoint copy yet"
    if response.is_error:
        return None, f"notify answered {response.status_code}: the copy was not compared"
    data: dict[str, Any] = response.json()["data"]
    return data, None


async def verify_everything(
    engine: AsyncEngine,
    settings: Settings,
    intake_settings: IntakeSettings,
    client: ServiceClient | None,
    *,
    now: datetime,
    progress: Progress | None = None,
) -> Report:
    """The whole database, its checkpoints, and their copy at notify (when reachable)."""
    write_log_through(engine, settings.keyring)
    async with session_scope(engine) as session:
        try:
            calendar = await stored_calendar(session, beijing_date(now))
        except CalendarDataError:
            # A calendar row edited into nonsense: the clock record names it; the figures are
            # checked against the package calendar meanwhile.
            log.error("a stored calendar year does not load; verifying with the package's")
            calendar = WorkingCalendar.build(today=beijing_date(now))
    copy, note = await fetch_copy(client) if client else (None, "not asked (--no-copy)")
    report = await verify_all(
        engine,
        settings.keyring(),
        Clocking(calendar, intake_settings.at_risk_percent),
        checkpoint_path(settings, intake_settings),
        copy=copy,
        progress=progress,
    )
    report.copy_note = note
    return report


async def checkpoint_now(
    engine: AsyncEngine, settings: Settings, intake_settings: IntakeSettings, *, now: datetime
) -> Checkpoint:
    write_log_through(engine, settings.keyring)
    return await write_checkpoint(
        engine, checkpoint_path(settings, intake_settings), settings.keyring(), now=now
    )


async def raise_alert(engine: AsyncEngine, report: Report, *, now: datetime) -> None:
    """A failed verification becomes an event for notify (``intake.log.verify_failed``),
    written through the outbox so that it survives notify being down, and an error in the log."""
    findings = report.findings()
    applications = sorted({f.application for f in findings if f.application})
    log.error(
        "stage record verification failed: %d finding(s), applications %s",
        len(findings),
        ", ".join(applications[:20]) or "-",
    )
    async with session_scope(engine) as session:
        enqueue(
            session,
            EventType.log_verify_failed,
            subject=f"verify failed: {len(findings)} finding(s)",
            data={
                "at": now.isoformat(),
                "applications": applications[:100],
                "findings": [f.model_dump() for f in findings[:50]],
                "checked": report.applications,
            },
            now=now,
        )
