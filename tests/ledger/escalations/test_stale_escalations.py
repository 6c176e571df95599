"""Stale-update escalation (更新超期督办): an item with no status post for N working days goes to
its units' heads, M working days later to the supervising leaders of its lead units; each step
recorded once per stale period, shown on the item and in the reports.

The ledger is loaded on Wednesday 2025-09-24, just before National Day 2025 (10-01..10-08 off,
Sunday 09-28 and Saturday 10-11 make-up working days). Ten working days later is 10-14; ten
calendar days would have been 10-04, inside the holiday.
"""

from __future__ import annotations

from datetime import UTC, datetime
from io import BytesIO

import pytest
from openpyxl import load_workbook

from services.ledger.accounts.service import get_user_by_name
from services.ledger.escalations.models import DEFAULT_STALE_AFTER_DAYS
from services.ledger.ledgers.service import NewItem, create_ledger
from services.ledger.updates.models import StatusUpdateCreate, TaskStatus
from services.ledger.updates.service import post_update
from shared.auth import Role
from shared.db import session_scope
from tests.conftest import add_user, client_for, service_client, sign_in

CODE = "stale-2025"
LOADED_AT = datetime(2025, 9, 24, 2, 0, tzinfo=UTC)  # 10:00 Beijing, a Wednesday
ROWS = [
    NewItem(1, "工作目标", "推广线上办电。", "各供电企业", "2025年12月底前"),
    NewItem(
        2,
        "工作目标",
        "推进政企协同办电。",
        "市发展改革委牵头，各供电企业按职责分工负责",
        "持续推进",
    ),
    NewItem(3, "工作目标", "统筹配电网规划。", "各电力主管部门", "2025年12月底前"),
]
NO_HEAD = "no active department head with an email is bound to unit '{}'"
NO_LEADER = "no active supervising leader (supervisor) with an email is bound to lead unit '{}'"


@pytest.fixture
async def ledger(apps) -> dict[str, int]:
    """The three-item ledger, 各供电企业's head, 市发展改革委's supervising leader; ids by seq."""
    async with session_scope(apps.ledger.state.engine) as session:
        await create_ledger(session, code=CODE, name="超期测试台账", rows=ROWS, now=LOADED_AT)
    await add_user(apps, "power", Role.dept_head, ["各供电企业"], "power@example.cn")
    await add_user(apps, "drc_lead", Role.supervisor, ["市发展改革委"], "lead@example.cn")
    await add_user(apps, "admin", Role.admin)
    async with client_for(apps.ledger, await sign_in(apps, "admin")) as admin:
        items = (await admin.get("/items", params={"ledger": CODE})).json()["items"]
    return {i["seq"]: i["id"] for i in items}


async def feed(apps, settings, as_of: str) -> dict:
    async with service_client(apps, settings, "ledger", "notify") as notify:
        response = await notify.post("/feed/stale-escalations", params={"as_of": as_of})
    assert response.status_code == 200, response.text
    return response.json()


async def ack(apps, settings, step_ids: list[int]) -> int:
    async with service_client(apps, settings, "ledger", "notify") as notify:
        response = await notify.post("/feed/stale-escalations/ack", json={"step_ids": step_ids})
    assert response.status_code == 200, response.text
    return response.json()["acknowledged"]


async def post_as_power(apps, item_id: int, at: datetime, status=TaskStatus.in_progress) -> None:
    async with session_scope(apps.ledger.state.engine) as session:
        user = await get_user_by_name(session, "power")
        assert user is not None
        progress = 100 if status is TaskStatus.done else 40
        await post_update(
            session,
            user,
            item_id,
            StatusUpdateCreate(status=status, progress=progress, narrative="已推进"),
            [],
            now=at,
        )


def by_seq(body: dict) -> dict[int, dict]:
    return {s["seq"]: s for s in body["steps"]}


class TestFirstStep:
    async def test_n_working_days_across_national_day(self, apps, settings, ledger):
        assert DEFAULT_STALE_AFTER_DAYS == 10
        for quiet in ("2025-10-09", "2025-10-11", "2025-10-13"):
            body = await feed(apps, settings, quiet)
            assert (body["working_day"], body["recorded"], body["steps"]) == (True, 0, [])
        holiday = await feed(apps, settings, "2025-10-04")
        assert (holiday["working_day"], holiday["steps"]) == (False, [])

        body = await feed(apps, settings, "2025-10-14")
        assert body["recorded"] == 3
        steps = by_seq(body)
        assert {s["level"] for s in steps.values()} == {"unit_head"}
        assert {s["period_start"] for s in steps.values()} == {"2025-09-24"}
        assert {s["due_on"] for s in steps.values()} == {"2025-10-14"}
        assert steps[1]["working_days_without_update"] == 10
        assert steps[1]["targets"] == [
            {
                "unit_id": steps[1]["targets"][0]["unit_id"],
                "unit": "各供电企业",
                "username": "power",
                "display_name": "power",
                "email": "power@example.cn",
                "via_unit": None,
                "error": None,
            }
        ]
        # Item 2: 市发展改革委 leads but has no department head; 各供电企业's head is told.
        assert [(t["unit"], t["email"], t["error"]) for t in steps[2]["targets"]] == [
            ("市发展改革委", None, NO_HEAD.format("市发展改革委")),
            ("各供电企业", "power@example.cn", None),
        ]
        assert [t["error"] for t in steps[3]["targets"]] == [NO_HEAD.format("各电力主管部门")]

    async def test_one_step_per_period_whatever_the_reruns(self, apps, settings, ledger):
        first = await feed(apps, settings, "2025-10-14")
        again = await feed(apps, settings, "2025-10-14")
        # Not yet handed over: offered again, but not recorded twice.
        assert again["recorded"] == 0
        assert [s["id"] for s in again["steps"]] == [s["id"] for s in first["steps"]]
        assert await ack(apps, settings, [s["id"] for s in first["steps"]]) == 3
        assert await ack(apps, settings, [s["id"] for s in first["steps"]]) == 0
        later = await feed(apps, settings, "2025-10-15")
        assert (later["recorded"], later["steps"]) == (0, [])

    async def test_finished_items_do_not_escalate(self, apps, settings, ledger):
        await post_as_power(
            apps, ledger[1], datetime(2025, 9, 26, 2, 0, tzinfo=UTC), TaskStatus.done
        )
        body = await feed(apps, settings, "2025-10-20")
        assert sorted(by_seq(body)) == [2, 3]


class TestSecondStep:
    async def test_supervising_leader_m_working_days_later(self, apps, settings, ledger):
        first = await feed(apps, settings, "2025-10-14")
        await ack(apps, settings, [s["id"] for s in first["steps"]])
        # Item 1 gets a post on 10-16: a new stale period, due 10 working days later (10-30).
        await post_as_power(apps, ledger[1], datetime(2025, 10, 16, 2, 0, tzinfo=UTC))
        assert (await feed(apps, settings, "2025-10-20"))["steps"] == []

        body = await feed(apps, settings, "2025-10-21")
        steps = by_seq(body)
        assert sorted(steps) == [2, 3]
        assert {s["level"] for s in steps.values()} == {"supervisor"}
        assert {s["due_on"] for s in steps.values()} == {"2025-10-21"}
        # Only the lead unit's supervising leader (牵头单位 from the 责任单位 column).
        assert [(t["unit"], t["username"]) for t in steps[2]["targets"]] == [
            ("市发展改革委", "drc_lead")
        ]
        assert [t["error"] for t in steps[3]["targets"]] == [NO_LEADER.format("各电力主管部门")]
        await ack(apps, settings, [s["id"] for s in body["steps"]])

        # Nothing more in these periods; item 1's new period reaches its head on 10-30.
        assert (await feed(apps, settings, "2025-10-29"))["steps"] == []
        new_period = by_seq(await feed(apps, settings, "2025-10-30"))
        assert sorted(new_period) == [1]
        assert new_period[1]["period_start"] == "2025-10-16"
        assert new_period[1]["level"] == "unit_head"


class TestSentUp:
    """A unit with nobody to tell is told through its nearest ancestor with someone."""

    async def test_a_county_company_without_a_head(self, apps, settings, admin):
        rows = [
            NewItem(
                1, "压缩办电时间", "广饶县配电网改造。", "国网广饶县供电公司", "2025年12月底前"
            ),
            NewItem(2, "工作目标", "统筹东营区配电网规划。", "东营区发展改革局", "2025年12月底前"),
        ]
        async with session_scope(apps.ledger.state.engine) as session:
            await create_ledger(
                session, code="up-2025", name="上报测试台账", rows=rows, now=LOADED_AT
            )
        await add_user(apps, "group", Role.dept_head, ["各供电企业"], "group@example.cn")
        await add_user(apps, "city_lead", Role.supervisor, ["国网东营供电公司"], "city@example.cn")
        # A head below the unit, or beside it, is nobody to tell for it.
        await add_user(apps, "lijin", Role.dept_head, ["国网利津县供电公司"], "lijin@example.cn")

        first = by_seq(await feed(apps, settings, "2025-10-14"))
        assert [
            (t["unit"], t["via_unit"], t["username"], t["error"]) for t in first[1]["targets"]
        ] == [("国网广饶县供电公司", "各供电企业", "group", None)]
        # Nobody anywhere above 东营区发展改革局: still a unit with nobody (a visible error).
        assert [(t["via_unit"], t["error"]) for t in first[2]["targets"]] == [
            (None, NO_HEAD.format("东营区发展改革局"))
        ]
        await ack(apps, settings, [s["id"] for s in first.values()])

        # The supervisor step goes up too: the city company's leader, nearer than the group.
        second = by_seq(await feed(apps, settings, "2025-10-21"))
        assert [(t["via_unit"], t["username"]) for t in second[1]["targets"]] == [
            ("国网东营供电公司", "city_lead")
        ]
        items = (await admin.get("/items", params={"ledger": "up-2025"})).json()["items"]
        item_1 = next(i["id"] for i in items if i["seq"] == 1)
        shown = (await admin.get(f"/items/{item_1}")).json()["escalations"]
        assert [(e["to_whom"], e["outcome"]) for e in shown] == [
            (
                "国网广饶县供电公司（无人可通知，转各供电企业）：group（group@example.cn）",
                "notified",
            ),
            (
                "国网广饶县供电公司（无人可通知，转国网东营供电公司）：city_lead（city@example.cn）",
                "notified",
            ),
        ]


class TestPolicyAndArchive:
    async def test_n_and_m_per_ledger(self, apps, settings, ledger, admin):
        bad = await admin.put(
            f"/ledgers/{CODE}/stale-policy", json={"stale_after_days": 0, "escalate_after_days": 2}
        )
        assert bad.status_code == 422
        response = await admin.put(
            f"/ledgers/{CODE}/stale-policy", json={"stale_after_days": 3, "escalate_after_days": 2}
        )
        assert response.status_code == 200, response.text
        assert (response.json()["stale_after_days"], response.json()["escalate_after_days"]) == (
            3,
            2,
        )
        # 09-25, 09-26, 09-28 (make-up Sunday): three working days after 09-24.
        assert (await feed(apps, settings, "2025-09-26"))["steps"] == []
        body = await feed(apps, settings, "2025-09-28")
        assert body["recorded"] == 3
        await ack(apps, settings, [s["id"] for s in body["steps"]])
        # Two more working days: 09-29, 09-30.
        assert by_seq(await feed(apps, settings, "2025-09-30"))[2]["level"] == "supervisor"

    async def test_only_admins_set_the_policy(self, apps, ledger):
        async with client_for(apps.ledger, await sign_in(apps, "power")) as power:
            response = await power.put(
                f"/ledgers/{CODE}/stale-policy",
                json={"stale_after_days": 3, "escalate_after_days": 2},
            )
        assert response.status_code == 403
        assert response.json()["code"] == "admin_required"

    async def test_archived_ledgers_never_escalate(self, apps, settings, ledger, admin):
        recorded = await feed(apps, settings, "2025-10-14")
        assert recorded["recorded"] == 3
        archived = await admin.post(f"/ledgers/{CODE}/archive", json={"reason": "误导入"})
        assert archived.status_code == 200
        # Neither the steps waiting to be sent nor new ones.
        assert (await feed(apps, settings, "2025-10-14"))["steps"] == []
        assert (await feed(apps, settings, "2025-10-21"))["recorded"] == 0

    async def test_the_feed_is_for_notify(self, apps, settings, ledger):
        async with service_client(apps, settings, "ledger", "intake") as intake:
            response = await intake.post("/feed/stale-escalations", params={"as_of": "2025-10-14"})
        assert response.status_code == 403


class TestShown:
    async def test_on_the_item_and_in_the_reports(self, apps, settings, ledger, admin):
        first = await feed(apps, settings, "2025-10-14")
        await ack(apps, settings, [s["id"] for s in first["steps"]])
        second = await feed(apps, settings, "2025-10-21")
        assert len(second["steps"]) == 3

        item = (await admin.get(f"/items/{ledger[2]}")).json()
        assert [(e["level"], e["fired_on"], e["outcome"]) for e in item["escalations"]] == [
            ("unit_head", "2025-10-14", "partly_unresolved"),
            ("supervisor", "2025-10-21", "notified"),
        ]
        assert (
            item["escalations"][0]["to_whom"]
            == "市发展改革委：无人可通知；各供电企业：power（power@example.cn）"
        )
        assert item["escalations"][0]["queued_at"] is not None
        assert item["escalations"][1]["queued_at"] is None
        assert item["escalations"][1]["level_label"] == "升级至督办领导"

        report = await admin.get(
            f"/ledgers/{CODE}/reports/annual", params={"year": 2025, "as_of": "2025-12-31"}
        )
        assert report.status_code == 200, report.text
        rows = report.json()["escalations"]
        assert [(e["seq"], e["level"]) for e in rows] == [
            (1, "unit_head"),
            (2, "unit_head"),
            (3, "unit_head"),
            (1, "supervisor"),
            (2, "supervisor"),
            (3, "supervisor"),
        ]
        assert rows[2]["outcome_label"] == "无人可通知"
        # The half-year report of 2025 ends on 06-30: none of these.
        half = await admin.get(
            f"/ledgers/{CODE}/reports/half_year", params={"year": 2025, "as_of": "2025-12-31"}
        )
        assert half.json()["escalations"] == []

        xlsx = await admin.get(
            f"/ledgers/{CODE}/reports/annual",
            params={"year": 2025, "as_of": "2025-12-31", "format": "xlsx"},
        )
        sheet = load_workbook(BytesIO(xlsx.content))["更新超期督办"]
        values = [[c.value for c in row] for row in sheet.iter_rows()]
        assert values[1][:3] == ["序号", "工作目标任务", "督办步骤"]
        assert values[2][:6] == [
            1,
            "推广线上办电。",
            "提醒责任单位负责人",
            "2025-09-24",
            "2025-10-14",
            "2025-10-14",
        ]
        assert values[2][6:] == ["各供电企业：power（power@example.cn）", "已通知"]
        assert len(values) == 2 + 6

    async def test_on_the_item_page(self, apps, settings, ledger):
        await feed(apps, settings, "2025-10-14")
        token = await sign_in(apps, "power")
        async with client_for(apps.ledger) as browser:
            browser.cookies.set("huodian_session", token)
            page = await browser.get(f"/ui/items/{ledger[3]}")
        assert page.status_code == 200, page.text
        assert "更新超期督办" in page.text
        assert "<td>2025-10-14</td><td>提醒责任单位负责人</td><td>2025-09-24</td>" in page.text
        assert "各电力主管部门：无人可通知" in page.text
