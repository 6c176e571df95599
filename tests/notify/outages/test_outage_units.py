"""Outages belong to units (单位): a dispatcher reads and changes only their units' outages.

The matrix (tests/shared/test_access_matrix.py) sends every role to every route; these tests
pin the rules themselves: which unit a new outage gets, that a refusal changes nothing, and the
outages from before units (null unit), which only administrators see until one is assigned.
"""

from __future__ import annotations

import pytest
from sqlalchemy import update

from services.notify.outages.models import Outage
from shared.auth import Role
from shared.db import session_scope
from tests.conftest import add_user, client_for, sign_in
from tests.notify.outages.test_outages import planned

MARKETING, BRANCH, PRODUCTION = "营销部", "供电分公司", "供电生产部"


@pytest.fixture
async def staff(apps):
    """Clients: dispatchers of 营销部, of 供电分公司, of both, of none; an administrator."""
    users = {
        "marketing": (Role.dispatcher, [MARKETING]),
        "branch": (Role.dispatcher, [BRANCH]),
        "both": (Role.dispatcher, [MARKETING, PRODUCTION]),
        "nobody": (Role.dispatcher, []),
        "admin": (Role.admin, []),
    }
    clients = {}
    for name, (role, units) in users.items():
        await add_user(apps, name, role, units)
        clients[name] = client_for(apps.notify, await sign_in(apps, name))
    yield clients
    for client in clients.values():
        await client.aclose()


async def draft(client, **extra) -> dict:
    created = await client.post("/outages", json=planned(10, **extra))
    assert created.status_code == 201, created.text
    outage: dict = created.json()
    return outage


class TestTheUnitOfANewOutage:
    async def test_a_dispatcher_of_one_unit_drafts_for_it(self, staff):
        assert (await draft(staff["marketing"]))["unit"] == MARKETING

    async def test_a_dispatcher_of_several_units_names_one_of_them(self, staff):
        unnamed = await staff["both"].post("/outages", json=planned(10))
        assert unnamed.status_code == 422
        assert unnamed.json()["code"] == "unit_required"
        assert unnamed.json()["errors"][0]["field"] == "unit"
        assert (await draft(staff["both"], unit=PRODUCTION))["unit"] == PRODUCTION

    async def test_another_units_name_is_refused(self, staff):
        foreign = await staff["marketing"].post("/outages", json=planned(10, unit=BRANCH))
        assert foreign.status_code == 403
        assert foreign.json()["code"] == "not_your_unit"
        assert (await staff["admin"].get("/outages")).json()["items"] == []

    async def test_a_dispatcher_without_units_cannot_draft(self, staff):
        refused = await staff["nobody"].post("/outages", json=planned(10))
        assert refused.status_code == 403
        assert refused.json()["code"] == "no_units"

    async def test_an_administrator_names_any_unit(self, staff):
        unnamed = await staff["admin"].post("/outages", json=planned(10))
        assert unnamed.json()["code"] == "unit_required"
        assert (await draft(staff["admin"], unit=BRANCH))["unit"] == BRANCH


# Every route that takes an outage id, with a body that would be accepted for a fresh draft or
# (the ones after announcing) refused for its state, never for the unit.
OUTAGE_ROUTES = [
    ("GET", "", None),
    ("GET", "/repeat-warning", None),
    ("GET", "/messages", None),
    ("POST", "/announce", {}),
    ("POST", "/start", {}),
    ("POST", "/etr", {"note": "延长"}),
    ("POST", "/progress", {"note": "抢修中"}),
    ("POST", "/restore", {}),
    ("POST", "/cancel", {"reason": "计划调整"}),
]


class TestAnotherUnitsOutage:
    @pytest.mark.parametrize(("method", "tail", "body"), OUTAGE_ROUTES)
    async def test_is_refused_and_unchanged(self, staff, method, tail, body):
        outage = await draft(staff["marketing"])
        if tail == "/etr":
            body = {**body, "etr": outage["etr"].replace("T18", "T20")}
        refused = await staff["branch"].request(method, f"/outages/{outage['id']}{tail}", json=body)
        assert refused.status_code == 403, refused.text
        assert refused.json()["code"] == "not_your_unit"
        after = (await staff["marketing"].get(f"/outages/{outage['id']}")).json()
        assert after == outage

    @pytest.mark.parametrize(("method", "tail", "body"), OUTAGE_ROUTES)
    async def test_is_open_to_its_own_dispatchers_and_administrators(
        self, staff, method, tail, body
    ):
        outage = await draft(staff["marketing"])
        if tail == "/etr":
            body = {**body, "etr": outage["etr"].replace("T18", "T20")}
        for who in ("both", "admin"):  # "both" acts for 营销部 too
            answer = await staff[who].request(method, f"/outages/{outage['id']}{tail}", json=body)
            assert answer.status_code in (200, 409), (who, answer.text)  # 409: its state

    async def test_is_not_listed(self, staff):
        mine = await draft(staff["marketing"])
        theirs = await draft(staff["branch"])
        listed = {
            name: [o["id"] for o in (await c.get("/outages")).json()["items"]]
            for name, c in staff.items()
        }
        assert listed["marketing"] == [mine["id"]]
        assert listed["branch"] == [theirs["id"]]
        assert listed["both"] == [mine["id"]]
        assert listed["nobody"] == []
        assert sorted(listed["admin"]) == sorted([mine["id"], theirs["id"]])


class TestOutagesFromBeforeUnits:
    """Migration 0007 leaves the unit of existing outages null: notify cannot know their
    drafters' units. Only administrators see them until one hands each to its unit."""

    async def test_only_administrators_until_assigned(self, apps, staff):
        outage = await draft(staff["marketing"])
        async with session_scope(apps.notify.state.engine) as session:
            await session.exec(update(Outage).values(unit=None))  # type: ignore[call-overload]
        path = f"/outages/{outage['id']}"
        assert (await staff["marketing"].get(path)).json()["code"] == "not_your_unit"
        assert (await staff["marketing"].get("/outages")).json()["items"] == []
        assert (await staff["admin"].get(path)).json()["unit"] is None

        refused = await staff["marketing"].put(f"{path}/unit", json={"unit": MARKETING})
        assert refused.json()["code"] == "admin_required"
        assigned = await staff["admin"].put(f"{path}/unit", json={"unit": MARKETING})
        assert assigned.status_code == 200, assigned.text
        assert assigned.json()["unit"] == MARKETING
        announced = await staff["marketing"].post(f"{path}/announce", json={})
        assert announced.json()["state"] == "announced"

    async def test_an_administrator_hands_an_outage_to_another_unit(self, staff):
        outage = await draft(staff["marketing"])
        path = f"/outages/{outage['id']}"
        await staff["admin"].put(f"{path}/unit", json={"unit": BRANCH})
        assert (await staff["marketing"].get(path)).status_code == 403
        assert (await staff["branch"].get(path)).json()["unit"] == BRANCH
        missing = await staff["admin"].put("/outages/999/unit", json={"unit": BRANCH})
        assert missing.status_code == 404


class TestTheUnitHierarchy:
    """A dispatcher of a company (shared/units.json) works its departments' and branches'
    outages; a department never sees the company's or a sibling's."""

    COMPANY = "吉林省地方电力有限公司靖宇分公司"

    async def test_a_company_dispatcher_works_its_departments_outages(self, apps, staff):
        await add_user(apps, "company", Role.dispatcher, [self.COMPANY])
        async with client_for(apps.notify, await sign_in(apps, "company")) as company:
            marketing = await draft(staff["marketing"])
            branch = await draft(staff["branch"])
            own = await draft(company)
            assert own["unit"] == self.COMPANY
            assert (await draft(company, unit=PRODUCTION))["unit"] == PRODUCTION
            listed = [o["id"] for o in (await company.get("/outages")).json()["items"]]
            assert set(listed) >= {marketing["id"], branch["id"], own["id"]}
            announced = await company.post(f"/outages/{marketing['id']}/announce", json={})
            assert announced.status_code == 200, announced.text

            assert [
                o["id"] for o in (await staff["marketing"].get("/outages")).json()["items"]
            ] == [marketing["id"]]
            refused = await staff["marketing"].get(f"/outages/{own['id']}")
            assert (refused.status_code, refused.json()["code"]) == (403, "not_your_unit")
            upward = await staff["marketing"].post("/outages", json=planned(10, unit=self.COMPANY))
            assert (upward.status_code, upward.json()["code"]) == (403, "not_your_unit")

    async def test_dongying_a_company_drafts_for_its_branch(self, apps):
        await add_user(apps, "dy-dispatch", Role.dispatcher, ["国网东营供电公司"])
        await add_user(apps, "gr-dispatch", Role.dispatcher, ["国网广饶县供电公司"])
        async with (
            client_for(apps.notify, await sign_in(apps, "dy-dispatch")) as city,
            client_for(apps.notify, await sign_in(apps, "gr-dispatch")) as county,
        ):
            outage = await draft(city, unit="国网广饶县供电公司")
            assert (await county.get(f"/outages/{outage['id']}")).status_code == 200
            assert [o["id"] for o in (await city.get("/outages")).json()["items"]] == [outage["id"]]
            sibling = await county.post("/outages", json=planned(10, unit="国网利津县供电公司"))
            assert sibling.json()["code"] == "not_your_unit"
