"""A ledger imported by mistake is archived by an admin (台账归档): out of every list, the
dashboards, the ranking and the reminders, with its history kept."""

from __future__ import annotations

import pytest

from tests.conftest import service_client
from tests.ledger.ledgers.test_items_api import item_id
from tests.ledger.ledgers.test_spreadsheet_api import import_xlsx, xlsx

# The same rows as Dongying's items 7 and 9 (各供电企业, due 2021-06-30), imported a second time.
DUPLICATE_ROWS = [
    ("序号", "分类", "工作目标任务", "责任单位", "完成时间"),
    (7, "工作目标", "推广线上办电。", "各供电企业", "2021年6月底前"),
    (9, "工作目标", "压减办电时间。", "各供电企业", "2021年6月底前"),
]


@pytest.fixture
async def duplicate(admin, seeded) -> str:
    response = await import_xlsx(admin, xlsx(DUPLICATE_ROWS), code="dongying-2021-copy")
    assert response.status_code == 201, response.text
    return "dongying-2021-copy"


async def archive(client, code: str, reason: str = "误导入，重复台账"):
    return await client.post(f"/ledgers/{code}/archive", json={"reason": reason})


async def feed_codes(apps, settings) -> list[str]:
    async with service_client(apps, settings, "ledger", "notify") as notify:
        response = await notify.get(
            "/feed/deadlines", params={"as_of": "2021-06-25", "within_days": 7}
        )
    assert response.status_code == 200
    return [e["ledger_code"] for e in response.json()["entries"]]


class TestArchive:
    async def test_an_archived_ledger_leaves_the_lists_and_keeps_its_record(self, admin, duplicate):
        response = await archive(admin, duplicate)
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["archived_by"] == "admin"
        assert body["archive_reason"] == "误导入，重复台账"
        assert body["archived_at"].endswith("+08:00")
        assert body["item_count"] == 2

        listed = [lp["code"] for lp in (await admin.get("/ledgers")).json()]
        assert duplicate not in listed
        assert "dongying-2021" in listed
        everything = (await admin.get("/ledgers", params={"include_archived": "true"})).json()
        assert duplicate in [lp["code"] for lp in everything]
        assert (await admin.get(f"/ledgers/{duplicate}")).json()["archived_by"] == "admin"

        items = (await admin.get("/items", params={"limit": 500})).json()
        assert {i["ledger_code"] for i in items["items"]} == {"dongying-2021", "jingyu-2022"}
        named = (await admin.get("/items", params={"ledger": duplicate})).json()
        assert [i["seq"] for i in named["items"]] == [7, 9]
        export = await admin.get(f"/ledgers/{duplicate}/export.csv")
        assert export.status_code == 200

    async def test_its_items_are_no_longer_reminded(self, apps, settings, admin, duplicate):
        assert (await feed_codes(apps, settings)).count(duplicate) == 2
        await archive(admin, duplicate)
        assert duplicate not in await feed_codes(apps, settings)

    async def test_nor_counted_in_the_ranking(self, admin, viewer, duplicate):
        async def power_items() -> int:
            ranking = (await viewer.get("/ranking", params={"as_of": "2021-07-01"})).json()
            return next(r["items"] for r in ranking if r["unit"] == "各供电企业")

        before = await power_items()
        await archive(admin, duplicate)
        assert await power_items() == before - 2

    async def test_its_items_take_no_updates_but_keep_their_history(
        self, admin, power_head, duplicate
    ):
        target = await item_id(power_head, duplicate, 7)
        posted = await power_head.post(
            f"/items/{target}/updates",
            data={"status": "in_progress", "progress": "30", "narrative": "推进中"},
        )
        assert posted.status_code == 201
        await archive(admin, duplicate)
        refused = await power_head.post(
            f"/items/{target}/updates",
            data={"status": "done", "progress": "100", "narrative": "完成"},
        )
        assert refused.status_code == 409
        assert refused.json()["code"] == "ledger_archived"
        detail = (await power_head.get(f"/items/{target}")).json()
        assert [u["narrative"] for u in detail["history"]] == ["推进中"]

    async def test_restored_it_is_back(self, admin, duplicate):
        await archive(admin, duplicate)
        restored = await admin.post(f"/ledgers/{duplicate}/restore")
        assert restored.status_code == 200
        assert restored.json()["archived_at"] is None
        assert duplicate in [lp["code"] for lp in (await admin.get("/ledgers")).json()]


class TestRefused:
    async def test_only_an_admin_archives(self, viewer, power_head, duplicate):
        for client in (viewer, power_head):
            response = await archive(client, duplicate)
            assert response.status_code == 403
        assert (await viewer.post(f"/ledgers/{duplicate}/restore")).status_code == 403

    async def test_a_reason_is_required(self, admin, duplicate):
        for body in ({}, {"reason": ""}, {"reason": "x" * 501}):
            response = await admin.post(f"/ledgers/{duplicate}/archive", json=body)
            assert response.status_code == 422

    async def test_twice_unknown_or_not_archived(self, admin, duplicate):
        assert (await archive(admin, duplicate)).status_code == 200
        again = await archive(admin, duplicate)
        assert (again.status_code, again.json()["code"]) == (409, "ledger_archived")
        unknown = await archive(admin, "no-such-ledger")
        assert (unknown.status_code, unknown.json()["code"]) == (404, "ledger_not_found")
        not_archived = await admin.post("/ledgers/dongying-2021/restore")
        assert (not_archived.status_code, not_archived.json()["code"]) == (
            409,
            "ledger_not_archived",
        )
