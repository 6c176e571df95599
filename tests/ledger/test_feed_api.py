from shared.auth import Role
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
        assert entries[("dongying-2021", 7)]["days_left"] == 5

    async def test_users_cannot_read_the_feed(self, viewer, seeded):
        response = await viewer.get("/feed/deadlines")
        assert response.status_code == 403
        assert response.json()["code"] == "service_only"

    async def test_another_service_cannot_either(self, apps, settings, seeded):
        async with service_client(apps, settings, "ledger", "intake") as intake:
            assert (await intake.get("/feed/deadlines")).status_code == 403
