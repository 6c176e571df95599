from datetime import date

import pytest


async def item_id(client, ledger: str, seq: int) -> int:
    page = (await client.get("/items", params={"ledger": ledger, "limit": 500})).json()
    return next(i["id"] for i in page["items"] if i["seq"] == seq)


class TestLedgers:
    async def test_both_reference_ledgers_are_listed(self, viewer, seeded):
        response = await viewer.get("/ledgers")
        assert response.status_code == 200
        assert {(lg["code"], lg["item_count"]) for lg in response.json()} == {
            ("dongying-2021", 68),
            ("jingyu-2022", 17),
        }

    async def test_unknown_ledger_is_404(self, viewer, seeded):
        response = await viewer.get("/ledgers/nowhere")
        assert response.status_code == 404
        assert response.json()["code"] == "ledger_not_found"


class TestItemFilters:
    async def test_page_and_total(self, viewer, seeded):
        page = (
            await viewer.get(
                "/items", params={"ledger": "dongying-2021", "limit": 10, "offset": 60}
            )
        ).json()
        assert page["total"] == 68
        assert [i["seq"] for i in page["items"]] == list(range(61, 69))

    async def test_by_category(self, viewer, seeded):
        page = (
            await viewer.get("/items", params={"ledger": "dongying-2021", "category": "保障措施"})
        ).json()
        assert page["total"] == 8

    async def test_by_unit(self, viewer, seeded):
        units = {u["name"]: u["id"] for u in (await viewer.get("/units")).json()}
        page = (await viewer.get("/items", params={"unit_id": units["市发展改革委"]})).json()
        assert sorted(i["seq"] for i in page["items"]) == [29, 57, 65, 68]

    async def test_overdue_is_derived_from_due_and_status(self, viewer, seeded):
        # On 2021-07-01 every item due by 2021-06-30 without an update is overdue.
        page = (
            await viewer.get(
                "/items",
                params={"ledger": "dongying-2021", "overdue": "true", "as_of": "2021-07-01"},
            )
        ).json()
        assert sorted(i["seq"] for i in page["items"]) == [
            5,
            7,
            9,
            17,
            18,
            21,
            25,
            32,
            34,
            35,
            36,
            39,
            56,
            61,
            62,
            63,
        ]
        first = page["items"][0]
        assert first["status"] == "not_started"
        assert first["overdue"] is True

    async def test_days_overdue(self, viewer, seeded):
        page = (
            await viewer.get(
                "/items",
                params={"ledger": "dongying-2021", "overdue": "true", "as_of": "2021-07-01"},
            )
        ).json()
        item_32 = next(i for i in page["items"] if i["seq"] == 32)
        assert item_32["days_overdue"] == (date(2021, 7, 1) - date(2021, 3, 31)).days

    async def test_due_soon(self, viewer, seeded):
        page = (
            await viewer.get(
                "/items",
                params={"ledger": "dongying-2021", "due_soon": "true", "as_of": "2021-06-20"},
            )
        ).json()
        assert {i["due_date"] for i in page["items"]} == {"2021-06-30"}
        assert page["total"] == 12

    async def test_due_before(self, viewer, seeded):
        page = (
            await viewer.get(
                "/items", params={"ledger": "dongying-2021", "due_before": "2021-06-01"}
            )
        ).json()
        assert sorted(i["seq"] for i in page["items"]) == [32, 61, 63]

    async def test_ongoing_items_are_never_overdue(self, viewer, seeded):
        page = (
            await viewer.get(
                "/items",
                params={"ledger": "dongying-2021", "overdue": "true", "as_of": "2030-01-01"},
            )
        ).json()
        assert all(i["due_kind"] == "date" for i in page["items"])
        assert page["total"] == 22

    async def test_bad_filter_is_422_naming_the_field(self, viewer, seeded):
        response = await viewer.get("/items", params={"status": "finished", "due_before": "soon"})
        assert response.status_code == 422
        assert {e["field"] for e in response.json()["errors"]} == {"status", "due_before"}


class TestItemDetail:
    async def test_units_with_roles(self, viewer, seeded):
        item = (await viewer.get(f"/items/{await item_id(viewer, 'dongying-2021', 29)}")).json()
        assert [(u["name"], u["role"]) for u in item["units"]] == [
            ("市发展改革委", "lead"),
            ("各供电企业", "supporting"),
        ]
        assert item["history"] == []

    async def test_missing_item_is_404(self, viewer, seeded):
        response = await viewer.get("/items/999999")
        assert response.status_code == 404
        assert response.json()["code"] == "item_not_found"


@pytest.mark.parametrize("path", ["/ledgers", "/items", "/units", "/ranking"])
async def test_reads_need_sign_in(apps, seeded, path):
    from tests.conftest import client_for

    async with client_for(apps.ledger) as anonymous:
        assert (await anonymous.get(path)).status_code == 401
