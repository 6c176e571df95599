"""Keeping a service's working-day calendar in step with the years loaded at intake.

Intake owns the official arrangements an administrator loads (``PUT /calendar/years/{y}``);
other services read them from ``GET /calendar/arrangements`` at start-up and then periodically,
so that a year published in December reaches every service without a restart. While intake
cannot be reached a service keeps the calendar it has (the package's years; later years stay
provisional, never silently confirmed) and says so in its log.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import date

from fastapi import FastAPI
from pydantic import BaseModel

from shared import clock
from shared.calendar import WorkingCalendar, YearArrangement
from shared.errors import UpstreamUnavailable
from shared.http import ServiceClient
from shared.periodic import Periodic, Retry

log = logging.getLogger("huodian.calendar")
CalendarListener = Callable[[WorkingCalendar], None]


class ArrangementOut(BaseModel):
    """A loaded year as intake serves it (the arrangement exactly as loaded)."""

    year: int
    holidays: list[date]
    makeup_workdays: list[date]
    source: str

    def arrangement(self) -> YearArrangement:
        return YearArrangement(
            year=self.year,
            holidays=frozenset(self.holidays),
            makeup_workdays=frozenset(self.makeup_workdays),
            source=self.source,
        )


async def fetch_calendar(client: ServiceClient, today: date) -> WorkingCalendar:
    """The calendar with every year loaded at intake; raises UpstreamUnavailable if it can't."""
    raw = await client.get_json("intake", "/calendar/arrangements")
    years = [ArrangementOut.model_validate(item).arrangement() for item in raw]
    return WorkingCalendar.build(years, today=today)


async def refresh_calendar(app: FastAPI) -> bool:
    """Replace ``app.state.calendar`` and tell the listeners; False if intake did not answer."""
    try:
        calendar = await fetch_calendar(app.state.client, clock.today(app.state.clock))
    except UpstreamUnavailable as exc:
        log.warning("calendar not refreshed from intake, keeping the current one: %s", exc)
        return False
    app.state.calendar = calendar
    for listener in app.state.calendar_listeners:
        listener(calendar)
    return True


class CalendarSync:
    """Start/stop hooks for ``create_service_app`` that refresh the calendar in the background
    (a :class:`shared.periodic.Periodic`): soon after start-up (intake may still be starting),
    then every ``interval_seconds``; while intake does not answer, again after
    ``first_retry_seconds``, doubling up to the interval."""

    def __init__(self, interval_seconds: float = 600, first_retry_seconds: float = 2) -> None:
        self._interval = interval_seconds
        self._first_retry = first_retry_seconds
        self._job: Periodic | None = None

    async def start(self, app: FastAPI) -> None:
        async def tick() -> None:
            if not await refresh_calendar(app):
                raise Retry  # refresh_calendar said why

        # Services start together: give intake a moment before the first call.
        self._job = Periodic(
            "calendar-sync",
            tick,
            interval=self._interval,
            first_run=self._first_retry,
            retry_base=self._first_retry,
            retry_cap=self._interval,
        )
        self._job.start()

    async def stop(self, _app: FastAPI) -> None:
        if self._job is not None:
            await self._job.stop()
            self._job = None
