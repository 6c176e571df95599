"""``GET /outages`` is a page like every other list (shared/pagination.py): total, limit, offset,
items; the bounds of ``limit`` and ``offset`` are the same everywhere."""

from __future__ import annotations

import pytest

from shared.auth import Role
from shared.pagination import DEFAULT_LIMIT, MAX_LIMIT
from tests.conftest import add_user, client_for, sign_in
from tests.notify.outages.test_outages import planned


@pytest.fixture
async def dispatcher(apps):
    await add_user(apps, "fenye", Role.dispatcher, ["营销部"])
    async with client_for(apps.notify, await sign_in(apps, "fenye")) as client:
        yield client


async def draft(client, days_ahead: float) -> int:
    created = await client.post("/outages", json=planned(days_ahead))
    assert created.status_code == 201, created.text
    outage_id: int = created.json()["id"]
    return outage_id


class TestOutagePage:
    async def test_total_counts_every_outage_and_items_holds_the_page(self, dispatcher):
        ids = [await draft(dispatcher, days) for days in (10, 11, 12)]
        first = (await dispatcher.get("/outages", params={"limit": 2})).json()
        assert (first["total"], first["limit"], first["offset"]) == (3, 2, 0)
        # Newest (latest planned start) first.
        assert [o["id"] for o in first["items"]] == [ids[2], ids[1]]
        rest = (await dispatcher.get("/outages", params={"limit": 2, "offset": 2})).json()
        assert (rest["total"], [o["id"] for o in rest["items"]]) == (3, [ids[0]])

    async def test_the_default_and_the_largest_limit(self, dispatcher):
        assert (await dispatcher.get("/outages")).json()["limit"] == DEFAULT_LIMIT
        largest = await dispatcher.get("/outages", params={"limit": MAX_LIMIT})
        assert largest.status_code == 200, largest.text

    @pytest.mark.parametrize(
        ("params", "field"),
        [
            ({"limit": MAX_LIMIT + 1}, "limit"),
            ({"limit": 0}, "limit"),
            ({"offset": -1}, "offset"),
            ({"offset": 2**31}, "offset"),
        ],
    )
    async def test_out_of_range_is_a_422(self, dispatcher, params, field):
        refused = await dispatcher.get("/outages", params=params)
        assert refused.status_code == 422, refused.text
        assert refused.json()["code"] == "validation_failed"
        assert field in refused.json()["errors"][0]["field"]
