from datetime import date, datetime

import pytest

from services.ledger.ledgers.service import NewItem, create_ledger
from services.notify.reminders.service import trigger_firing, triggers
from shared.auth import Role
from shared.calendar import WorkingCalendar
from shared.db import session_scope
from tests.conftest import add_user, client_for, service_client

CALENDAR = WorkingCalendar.build(last_year=2028)


class TestTriggers:
    def test_before_due_and_weekly_after(self):
        names = [t.name for t in triggers(CALENDAR, date(2025, 3, 31), 7, date(2025, 4, 21))]
        assert names == [
            "before-7d",
            "due-day",
            "overdue-week-1",
            "overdue-week-2",
            "overdue-week-3",
        ]

    def test_days_before_are_working_days(self):
        # Due 2026-10-09: seven calendar days before is 10-02, inside the National Day holiday
        # (10-01..10-07), which would have moved the warning to 10-08, the day before. Seven
        # working days before is 09-22 (09-25, Mid-Autumn, is off too).
        assert CALENDAR.working_days_before(date(2026, 10, 9), 7) == date(2026, 9, 22)
        fired = trigger_firing(CALENDAR, date(2026, 10, 9), 7, date(2026, 9, 22))
        assert fired is not None
        assert fired.name == "before-7d"
        for quiet_day in (date(2026, 9, 21), date(2026, 9, 23), date(2026, 10, 8)):
            assert trigger_firing(CALENDAR, date(2026, 10, 9), 7, quiet_day) is None
        due_day = trigger_firing(CALENDAR, date(2026, 10, 9), 7, date(2026, 10, 9))
        assert due_day is not None
        assert due_day.name == "due-day"

    def test_reminder_on_a_holiday_moves_to_the_next_working_day(self):
        # Due 2025-10-05, inside the National Day holiday: the due-day reminder moves to 10-09;
        # the one two working days before is 09-29 (09-28, a make-up Sunday, counts).
        assert trigger_firing(CALENDAR, date(2025, 10, 5), 2, date(2025, 10, 5)) is None
        moved = trigger_firing(CALENDAR, date(2025, 10, 5), 2, date(2025, 10, 9))
        assert moved is not None
        assert moved.name == "due-day"
        before = trigger_firing(CALENDAR, date(2025, 10, 5), 2, date(2025, 9, 29))
        assert before is not None
        assert before.name == "before-2d"

    def test_weekend_due_day_is_reminded_on_monday(self):
        # 2025-06-01 is a Sunday, 2025-06-02 the Dragon Boat Festival holiday: Tuesday it is.
        assert trigger_firing(CALENDAR, date(2025, 6, 1), 0, date(2025, 6, 2)) is None
        fired = trigger_firing(CALENDAR, date(2025, 6, 1), 0, date(2025, 6, 3))
        assert fired is not None
        assert fired.name == "due-day"


@pytest.fixture
async def notify_admin(apps, settings, seeded):
    await add_user(apps, "admin", Role.admin)
    from tests.conftest import sign_in

    async with client_for(apps.notify, await sign_in(apps, "admin")) as client:
        yield client


class TestLedgerReminderRun:
    async def test_queues_once_per_reminder_recipient_channel(self, apps, notify_admin):
        await add_user(apps, "power", Role.dept_head, ["各供电企业"], "power@example.cn")
        run = await notify_admin.post(
            "/reminders/ledger-deadlines/run", params={"as_of": "2021-06-21", "days_before": 7}
        )
        assert run.status_code == 200, run.text
        # Twelve items fall due on 2021-06-30; 06-21 is seven working days before (06-14 was
        # the Dragon Boat Festival). 各供电企业 has a head; nobody heads the other two units.
        no_head = "no active department head with an email is bound to unit '{}'"
        assert run.json() == {
            "as_of": "2021-06-21",
            "working_day": True,
            "reminders_due": 21,
            "queued": 8,
            "dead": 13,
            "already_queued": 0,
            "unresolved": [
                {
                    "recipient": "unit:其他相关政府部门",
                    "error": no_head.format("其他相关政府部门"),
                    "reminders": 6,
                },
                {
                    "recipient": "unit:各电力主管部门",
                    "error": no_head.format("各电力主管部门"),
                    "reminders": 7,
                },
            ],
        }
        again = (
            await notify_admin.post(
                "/reminders/ledger-deadlines/run", params={"as_of": "2021-06-21", "days_before": 7}
            )
        ).json()
        assert (again["queued"], again["dead"], again["already_queued"]) == (0, 0, 21)

        # Two days later none of them is reminded again; item 32 (due 03-31) is in its 12th
        # overdue week.
        later = (
            await notify_admin.post(
                "/reminders/ledger-deadlines/run", params={"as_of": "2021-06-23", "days_before": 7}
            )
        ).json()
        assert (later["reminders_due"], later["queued"], later["dead"]) == (3, 1, 2)

        sent_to_power = (await notify_admin.get("/messages", params={"state": "queued"})).json()
        assert sent_to_power["total"] == 9
        assert {m["recipient"] for m in sent_to_power["items"]} == {"power@example.cn"}
        subjects = {m["subject"] for m in sent_to_power["items"]}
        assert "【逾期督办】dongying-2021 第32项已逾期84天" in subjects
        assert "【临期提醒】dongying-2021 第7项将于2021-06-30到期" in subjects

    async def test_unresolved_recipients_are_visible_errors(self, apps, notify_admin):
        await notify_admin.post(
            "/reminders/ledger-deadlines/run", params={"as_of": "2021-06-21", "days_before": 7}
        )
        dead = (await notify_admin.get("/messages", params={"state": "dead"})).json()
        assert dead["total"] == 21
        assert {m["recipient"] for m in dead["items"]} == {
            "unit:各供电企业",
            "unit:各电力主管部门",
            "unit:其他相关政府部门",
        }
        assert all("no active department head" in m["last_error"] for m in dead["items"])

    async def test_a_unit_without_a_head_goes_up_to_its_nearest_ancestors(self, apps, notify_admin):
        rows = [
            NewItem(1, "压缩办电时间", "广饶县配电网改造", "国网广饶县供电公司", "2026年6月底前"),
            NewItem(
                2,
                "压缩办电时间",
                "城区及县区配电网改造",
                "国网东营供电公司、国网利津县供电公司",
                "2026年6月底前",
            ),
            NewItem(3, "工作目标", "统筹配电网规划", "东营区发展改革局", "2026年6月底前"),
        ]
        loaded = datetime.fromisoformat("2026-04-01T02:00:00+00:00")
        async with session_scope(apps.ledger.state.engine) as session:
            await create_ledger(
                session, code="dongying-2026", name="测试台账", rows=rows, now=loaded
            )
        await add_user(apps, "group", Role.dept_head, ["各供电企业"], "group@example.cn")
        await add_user(apps, "city", Role.dept_head, ["国网东营供电公司"], "city@example.cn")
        # Tuesday 2026-06-30 is the due day of all three.
        run = await notify_admin.post(
            "/reminders/ledger-deadlines/run", params={"as_of": "2026-06-30", "days_before": 7}
        )
        assert run.status_code == 200, run.text
        listed = (await notify_admin.get("/messages", params={"limit": 200})).json()["items"]
        ours = sorted(
            (m["recipient"], m["state"], m["body"].splitlines()[:2])
            for m in listed
            if "dongying-2026" in m["subject"]
        )
        assert ours == [
            # The city company has its own head; its county company 利津 has none, so the
            # nearest ancestor with one (the city company) is told, for 利津, in its own message.
            (
                "city@example.cn",
                "queued",
                ["责任单位：国网东营供电公司", "工作任务：城区及县区配电网改造"],
            ),
            (
                "city@example.cn",
                "queued",
                [
                    "责任单位：国网利津县供电公司",
                    "（国网利津县供电公司无人可通知，转其上级单位国网东营供电公司）",
                ],
            ),
            (
                "city@example.cn",
                "queued",
                [
                    "责任单位：国网广饶县供电公司",
                    "（国网广饶县供电公司无人可通知，转其上级单位国网东营供电公司）",
                ],
            ),
            # Nobody above 东营区发展改革局 has a head: still a visible dead letter.
            (
                "unit:东营区发展改革局",
                "dead",
                ["责任单位：东营区发展改革局", "工作任务：统筹配电网规划"],
            ),
        ]
        again = (
            await notify_admin.post(
                "/reminders/ledger-deadlines/run", params={"as_of": "2026-06-30", "days_before": 7}
            )
        ).json()
        assert (again["queued"], again["dead"]) == (0, 0)

    async def test_nothing_on_a_holiday(self, notify_admin):
        # 2021-06-14 was the Dragon Boat Festival holiday.
        run = (
            await notify_admin.post(
                "/reminders/ledger-deadlines/run", params={"as_of": "2021-06-14"}
            )
        ).json()
        assert run["working_day"] is False
        assert run["queued"] == 0

    async def test_ledger_feed_refuses_bad_request_shape(self, apps, settings, seeded):
        async with service_client(apps, settings, "notify", "ledger") as ledger_as_caller:
            response = await ledger_as_caller.post(
                "/reminders/ledger-deadlines/run", params={"days_before": 99}
            )
        assert response.status_code == 422

    async def test_users_other_than_admin_are_refused(self, apps, seeded):
        await add_user(apps, "viewer", Role.viewer)
        from tests.conftest import sign_in

        async with client_for(apps.notify, await sign_in(apps, "viewer")) as client:
            response = await client.post("/reminders/ledger-deadlines/run")
        assert response.status_code == 403
