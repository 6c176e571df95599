"""A year loaded at intake reaches notify's working time without a restart."""

import asyncio
from datetime import UTC, date, datetime

from shared.auth import Role
from shared.calendar import WorkingCalendar
from shared.calendar_sync import CalendarSync, fetch_calendar, refresh_calendar
from shared.clock import SYSTEM_CLOCK, today
from tests.conftest import client_for
from tests.intake.conftest import staff_token

# A fictitious 2027 arrangement for the test only, not official data.
TEST_2027 = {
    "holidays": ["2027-01-01", "2027-02-08", "2027-02-09", "2027-02-10"],
    "makeup_workdays": ["2027-02-06"],
    "source": "测试用安排（非官方）",
}


class TestCalendarSync:
    async def test_loaded_year_reaches_notify(self, apps, settings):
        assert not apps.notify.state.calendar.is_confirmed(2027)
        admin = await staff_token(apps, "admin", Role.admin)
        async with client_for(apps.intake, admin) as client:
            response = await client.put("/calendar/years/2027", json=TEST_2027)
        assert response.status_code == 200, response.text
        try:
            assert await refresh_calendar(apps.notify)
            calendar = apps.notify.state.calendar
            assert calendar.is_confirmed(2027)
            assert not calendar.is_workday(date(2027, 2, 8))
            assert calendar.is_workday(date(2027, 2, 6))  # a Saturday made a working day
            # The delivery hours use it at once: staff messages wait past the holiday.
            hours = apps.notify.state.delivery_hours
            assert hours.calendar is calendar
            moment = datetime(2027, 2, 8, 2, 0, tzinfo=UTC)  # 10:00 Beijing, a holiday now
            assert hours.earliest(hours.staff_window, moment) > moment
        finally:
            await _restore(apps)

    async def test_intake_down_keeps_the_calendar(self, apps):
        before = apps.notify.state.calendar
        client = apps.notify.state.client
        apps.notify.state.client = type(client)(apps.notify.state.settings, "notify")
        try:
            assert not await refresh_calendar(apps.notify)  # http://intake.test is not there
        finally:
            await apps.notify.state.client.aclose()
            apps.notify.state.client = client
        assert apps.notify.state.calendar is before

    async def test_the_background_sync_refreshes_and_stops_promptly(self, apps):
        before = apps.notify.state.calendar
        sync = CalendarSync(interval_seconds=3600, first_retry_seconds=0)
        await sync.start(apps.notify)
        try:
            for _ in range(500):  # until the first refresh lands (no timing asserted)
                if apps.notify.state.calendar is not before:
                    break
                await asyncio.sleep(0.01)
            assert apps.notify.state.calendar is not before
        finally:
            await asyncio.wait_for(sync.stop(apps.notify), 5)  # the hour's wait ends at once
            await _restore(apps)

    async def test_only_staff_and_services_read_arrangements(self, apps):
        async with client_for(apps.intake) as anonymous:
            assert (await anonymous.get("/calendar/arrangements")).status_code == 401
        assert (
            await fetch_calendar(apps.notify.state.client, today(SYSTEM_CLOCK))
        ).confirmed_years()


async def _restore(apps) -> None:
    """Tables are emptied after the test; give both apps back the package-only calendar."""
    apps.intake.state.calendar = WorkingCalendar.build(today=today(SYSTEM_CLOCK))
    for listener in apps.notify.state.calendar_listeners:
        listener(WorkingCalendar.build(today=today(SYSTEM_CLOCK)))
    apps.notify.state.calendar = WorkingCalendar.build(today=today(SYSTEM_CLOCK))
