"""Checks every change to an application passes: not ended, not before the last recorded step."""

from __future__ import annotations

from datetime import datetime

from services.intake.applications.models import Application, ApplicationStatus
from shared.errors import Conflict

ENDED = (ApplicationStatus.connected, ApplicationStatus.closed)


def check_not_before(moment: datetime | None, now: datetime) -> None:
    if moment is not None and now < moment:
        raise Conflict(
            "the server clock is behind the last recorded step; nothing was recorded",
            code="server_clock_behind",
        )


def check_changeable(application: Application) -> None:
    if application.status in ENDED:
        raise Conflict(
            f"application {application.number} is {application.status.value}; it cannot change",
            code="application_ended",
        )
