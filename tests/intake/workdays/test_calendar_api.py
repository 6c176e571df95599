"""Working-day calendar administration: an admin loads a year; intake counts with it at once."""

from datetime import date

from sqlmodel import col, update

from services.intake.applications.models import Application
from services.intake.jobs import restore_calendar
from shared.calendar import WorkingCalendar, package_source, package_year_range
from shared.clock import SYSTEM_CLOCK, today
from shared.db import session_scope
from tests.intake.conftest import create, restart_as_worker

# Test data shaped like a State Council notice for 2027 (not the real one, unpublished here).
ARRANGEMENT_2027 = {
    "holidays": [
        "2027-01-01",
        "2027-02-05",
        "2027-02-08",
        "2027-02-09",
        "2027-02-10",
        "2027-02-11",
        "2027-02-12",
    ],
    "makeup_workdays": ["2027-02-06", "2027-02-20"],
    "source": "国办发明电〔2026〕测试号",
}


class TestListing:
    async def test_package_years_confirmed_later_ones_not(self, intake, intake_admin):
        response = await intake_admin.get("/calendar/years")
        assert response.status_code == 200
        body = response.json()
        first, last = package_year_range()
        assert [y["year"] for y in body["confirmed"]] == list(range(first, last + 1))
        assert {y["source"] for y in body["confirmed"]} == {package_source()}
        assert body["unconfirmed"] == list(range(last + 1, intake.state.calendar.last_year + 1))
        assert 2027 in body["unconfirmed"]

    async def test_a_package_year_in_detail(self, intake_admin):
        body = (await intake_admin.get("/calendar/years/2025")).json()
        assert body["origin"] == "package"
        assert body["confirmed"] is True
        # National Day and Mid-Autumn 2025: 10-01..08 off, Sunday 09-28 and Saturday 10-11 worked.
        assert [d for d in body["holidays"] if d.startswith("2025-10")] == [
            "2025-10-01",
            "2025-10-02",
            "2025-10-03",
            "2025-10-06",
            "2025-10-07",
            "2025-10-08",
        ]
        assert "2025-09-28" in body["makeup_workdays"]
        assert "2025-10-11" in body["makeup_workdays"]

    async def test_an_unconfirmed_year_has_its_statutory_holidays_predicted(self, intake_admin):
        body = (await intake_admin.get("/calendar/years/2027")).json()
        assert body["confirmed"] is False
        # The statutory days that fall on weekdays (2 May, 2–3 October are weekend days).
        assert body["holidays"] == [
            "2027-01-01",
            "2027-02-05",
            "2027-02-08",
            "2027-04-05",
            "2027-06-09",
            "2027-09-15",
            "2027-10-01",
        ]
        assert body["makeup_workdays"] == []
        assert "未公布" in body["source"]
        assert "暂定" in body["source"]

    async def test_out_of_range(self, intake_admin):
        response = await intake_admin.get("/calendar/years/1999")
        assert response.status_code == 422
        assert response.json()["code"] == "year_out_of_range"

    async def test_staff_only(self, anonymous):
        assert (await anonymous.get("/calendar/years")).status_code == 401


class TestLoading:
    async def test_admin_loads_a_year_and_the_calendar_uses_it(self, intake, intake_admin, clock):
        clock.set("2026-11-27 09:00")
        # A Tuesday after 初三: a working day until the arrangement says otherwise.
        assert intake.state.calendar.is_workday(date(2027, 2, 9))
        response = await intake_admin.put("/calendar/years/2027", json=ARRANGEMENT_2027)
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["origin"] == "loaded"
        assert body["confirmed"] is True
        assert body["loaded_by"] == "admin"
        assert body["loaded_at"] == "2026-11-27T09:00:00+08:00"
        assert body["makeup_workdays"] == ["2027-02-06", "2027-02-20"]
        calendar = intake.state.calendar
        assert calendar.is_confirmed(2027)
        assert not calendar.is_workday(date(2027, 2, 9))
        assert calendar.is_workday(date(2027, 2, 6))  # a Saturday worked
        assert not calendar.add_working_days(date(2027, 2, 4), 1).provisional
        listed = (await intake_admin.get("/calendar/years")).json()
        assert 2027 not in listed["unconfirmed"]
        assert listed["confirmed"][-1] == {
            "year": 2027,
            "source": "国办发明电〔2026〕测试号",
            "origin": "loaded",
            "loaded_at": "2026-11-27T09:00:00+08:00",
            "loaded_by": "admin",
        }

    async def test_a_restart_keeps_the_loaded_year(self, intake, intake_admin):
        await intake_admin.put("/calendar/years/2027", json=ARRANGEMENT_2027)
        intake.state.calendar = WorkingCalendar.build(today=today(SYSTEM_CLOCK))
        await restore_calendar(intake)
        assert intake.state.calendar.source_of(2027) == "国办发明电〔2026〕测试号"

    async def test_a_restart_brings_open_clocks_up_to_its_calendar(
        self, intake, intake_admin, clerk, clock
    ):
        """A due date stored under another calendar (an older package, weekends-only 2027) is
        recomputed at start-up, so the integrity check sees no difference."""
        clock.set("2026-12-31 10:00")
        number = (await create(clerk))["application"]["number"]
        async with session_scope(intake.state.engine) as session:
            await session.exec(
                update(Application)
                .where(col(Application.number) == number)
                .values(due_date=date(2027, 1, 1), due_provisional=True)
            )
        await restart_as_worker(intake)
        detail = (await clerk.get(f"/applications/{number}")).json()
        assert detail["clock"]["due_date"] == "2027-01-04"  # 01-01 is off (predicted)
        verified = (await clerk.get(f"/applications/{number}/log/verify")).json()
        assert verified["valid"] is True, verified

    async def test_a_reload_replaces_the_year(self, intake, intake_admin):
        await intake_admin.put("/calendar/years/2027", json=ARRANGEMENT_2027)
        corrected = {
            **ARRANGEMENT_2027,
            "holidays": ["2027-01-01"],
            "makeup_workdays": [],
            "source": "更正",
        }
        response = await intake_admin.put("/calendar/years/2027", json=corrected)
        assert response.status_code == 200
        assert intake.state.calendar.is_workday(date(2027, 2, 8))
        assert intake.state.calendar.source_of(2027) == "更正"

    async def test_a_package_year_can_be_overridden(self, intake, intake_admin):
        body = {
            "holidays": ["2026-01-01", "2026-01-02"],
            "makeup_workdays": [],
            "source": "更正 2026",
        }
        response = await intake_admin.put("/calendar/years/2026", json=body)
        assert response.status_code == 200
        assert intake.state.calendar.source_of(2026) == "更正 2026"
        assert intake.state.calendar.is_workday(date(2026, 10, 1))


class TestRefused:
    async def test_a_weekday_make_up_day(self, intake, intake_admin):
        body = {**ARRANGEMENT_2027, "makeup_workdays": ["2027-02-08"], "holidays": []}
        response = await intake_admin.put("/calendar/years/2027", json=body)
        assert response.status_code == 422
        assert response.json()["code"] == "invalid_arrangement"
        assert "Saturday or Sunday" in response.json()["detail"]
        assert not intake.state.calendar.is_confirmed(2027)
        assert 2027 in (await intake_admin.get("/calendar/years")).json()["unconfirmed"]

    async def test_dates_of_another_year(self, intake_admin):
        body = {**ARRANGEMENT_2027, "holidays": ["2026-12-31"]}
        response = await intake_admin.put("/calendar/years/2027", json=body)
        assert response.status_code == 422
        assert "outside 2027" in response.json()["detail"]

    async def test_a_day_both_off_and_worked(self, intake_admin):
        body = {**ARRANGEMENT_2027, "holidays": ["2027-02-06"]}
        response = await intake_admin.put("/calendar/years/2027", json=body)
        assert response.json()["code"] == "invalid_arrangement"

    async def test_far_years_and_missing_source(self, intake_admin):
        response = await intake_admin.put("/calendar/years/2090", json=ARRANGEMENT_2027)
        assert response.json()["code"] == "year_out_of_range"
        response = await intake_admin.put(
            "/calendar/years/2027", json={**ARRANGEMENT_2027, "source": ""}
        )
        assert response.status_code == 422
        assert response.json()["errors"][0]["field"] == "source"

    async def test_only_an_admin(self, clerk):
        response = await clerk.put("/calendar/years/2027", json=ARRANGEMENT_2027)
        assert response.status_code == 403
