from datetime import datetime

from services.ledger.ledgers.service import NewItem, create_ledger
from shared.auth import Role
from shared.db import session_scope
from tests.conftest import add_user, service_client


class TestDeadlineFeed:
    async def test_due_soon_and_overdue_with_heads(self, apps, settings, seeded):
        await add_user(apps, "power", Role.dept_head, ["各供电企业"], "power@example.cn")
        await add_user(apps, "nomail", Role.dept_head, ["各供电企业"])
        # Bound to the same unit but not answering for its items: never a "head" in the feed.
        await add_user(apps, "leader", Role.supervisor, ["各供电企业"], "leader@example.cn")
        await add_user(apps, "counter", Role.clerk, ["各供电企业"], "counter@example.cn")
        async with service_client(apps, settings, "ledger", "notify") as notify:
            response = await notify.get(
                "/feed/deadlines", params={"as_of": "2021-06-25", "within_days": 7}
            )
        assert response.status_code == 200
        feed = response.json()
        entries = {(e["ledger_code"], e["seq"]): e for e in feed["entries"]}
        dongying = sorted(seq for code, seq in entries if code == "dongying-2021")
        assert dongying == [5, 7, 9, 17, 18, 21, 25, 32, 34, 35, 36, 39, 56, 61, 62, 63]
        item_32 = entries[("dongying-2021", 32)]
        assert item_32["overdue"] is True
        assert item_32["days_left"] == -86
        heads = {u["name"]: [h["email"] for h in u["heads"]] for u in item_32["units"]}
        assert heads == {
            "各电力主管部门": [],
            "其他相关政府部门": [],
            "各供电企业": ["power@example.cn"],
        }
        assert {u["name"]: u["heads_of"] for u in item_32["units"]} == {u: u for u in heads}
        assert entries[("dongying-2021", 7)]["days_left"] == 5

    async def test_a_unit_without_a_head_is_reminded_through_its_nearest_ancestor(
        self, apps, settings
    ):
        rows = [
            NewItem(1, "压缩办电时间", "广饶县配电网改造", "国网广饶县供电公司", "2026年6月底前"),
            NewItem(2, "压缩办电时间", "利津县配电网改造", "国网利津县供电公司", "2026年6月底前"),
            NewItem(3, "压缩办电时间", "城区配电网改造", "国网东营供电公司", "2026年6月底前"),
            NewItem(4, "工作目标", "统筹配电网规划", "东营区发展改革局", "2026年6月底前"),
        ]
        loaded = datetime.fromisoformat("2026-04-01T02:00:00+00:00")
        async with session_scope(apps.ledger.state.engine) as session:
            await create_ledger(
                session, code="dongying-2026", name="测试台账", rows=rows, now=loaded
            )
        await add_user(apps, "group", Role.dept_head, ["各供电企业"], "group@example.cn")
        await add_user(apps, "lijin", Role.dept_head, ["国网利津县供电公司"], "lijin@example.cn")
        # A clerk of the city company is nobody to remind; a head below it is not asked either.
        await add_user(apps, "city-clerk", Role.clerk, ["国网东营供电公司"], "clerk@example.cn")
        async with service_client(apps, settings, "ledger", "notify") as notify:
            feed = (
                await notify.get(
                    "/feed/deadlines", params={"as_of": "2026-06-25", "within_days": 7}
                )
            ).json()
        reached = {
            u["name"]: (u["heads_of"], [h["email"] for h in u["heads"]])
            for entry in feed["entries"]
            for u in entry["units"]
        }
        assert reached == {
            "国网广饶县供电公司": ("各供电企业", ["group@example.cn"]),
            "国网利津县供电公司": ("国网利津县供电公司", ["lijin@example.cn"]),
            "国网东营供电公司": ("各供电企业", ["group@example.cn"]),
            # Nobody above it either: still the unit itself, with nobody (a dead letter).
            "东营区发展改革局": ("东营区发展改革局", []),
        }

    async def test_users_cannot_read_the_feed(self, viewer, seeded):
        response = await viewer.get("/feed/deadlines")
        assert response.status_code == 403
        assert response.json()["code"] == "service_only"

    async def test_another_service_cannot_either(self, apps, settings, seeded):
        async with service_client(apps, settings, "ledger", "intake") as intake:
            assert (await intake.get("/feed/deadlines")).status_code == 403
