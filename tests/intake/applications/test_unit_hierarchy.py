"""Units form a hierarchy (shared/units.json): a clerk of a group (各供电企业) or of a company works
its members' and branches' applications; a member never sees its group's or its siblings'."""

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

import httpx
import pytest

from shared.auth import Role
from tests.conftest import client_for
from tests.intake.applications.test_stages_api import complete
from tests.intake.conftest import application_body, create, staff_token
from tests.intake.fees.test_fees_api import HIGH_RELIABILITY, add

SITE = {
    "address": "东营区府前大街 1 号",
    "area_class": "urban",
    "feeder": "10kV 府前线",
    "transformer_area": "府前1号台区",
}

Staff = Callable[..., AbstractAsyncContextManager[httpx.AsyncClient]]


@pytest.fixture
def staff(intake, apps) -> Staff:
    @asynccontextmanager
    async def open_client(
        username: str, *units: str, role: Role = Role.clerk
    ) -> AsyncIterator[httpx.AsyncClient]:
        async with client_for(intake, await staff_token(apps, username, role, units)) as client:
            yield client

    return open_client


async def numbers(client: httpx.AsyncClient, **params: str) -> list[str]:
    response = await client.get("/applications", params=params)
    assert response.status_code == 200, response.text
    return sorted(a["number"] for a in response.json()["items"])


class TestGroupClerk:
    async def test_works_a_members_application_to_connection(self, staff, clerk, clock):
        clock.set("2026-03-02 10:00")
        number = (await create(clerk, site=SITE))["application"]["number"]
        async with staff("clerk-group", "各供电企业") as group:
            assert await numbers(group) == [number]
            assert await numbers(group, unit="国网东营供电公司") == [number]
            assert await numbers(group, unit="各供电企业") == [number]
            one = await group.get(f"/applications/{number}")
            assert one.status_code == 200
            assert one.json()["applicant"]["mobile"] == "13800138000"  # unmasked: their unit's
            for day, stage in (
                ("2026-03-03 09:30", "acceptance"),
                ("2026-03-05 09:30", "supply_plan"),
                ("2026-03-10 09:30", "completion_inspection"),
                ("2026-03-11 09:30", "connection"),
            ):
                clock.set(day)
                done = await complete(group, number, stage)  # with the documents it needs
                assert done.status_code == 200, done.text
            assert done.json()["status"] == "connected"
            assert done.json()["stages"][-1]["completed_by"] == "clerk-group"

    async def test_accepts_for_a_member(self, staff, clock):
        clock.set("2026-03-02 10:00")
        async with staff("clerk-group", "各供电企业") as group:
            created = await create(group, unit="国网广饶县供电公司")
            assert created["application"]["unit"] == "国网广饶县供电公司"

    async def test_a_company_clerk_works_its_branches(self, staff, clock):
        clock.set("2026-03-02 10:00")
        async with staff("clerk-guangrao", "国网广饶县供电公司") as branch:
            number = (await create(branch, unit="国网广饶县供电公司"))["application"]["number"]
        async with staff("clerk-city", "国网东营供电公司") as company:
            assert await numbers(company) == [number]
            assert (await company.get(f"/applications/{number}")).status_code == 200


class TestMemberClerk:
    async def test_does_not_see_the_groups_or_a_siblings_work(self, staff, clerk, clock):
        clock.set("2026-03-02 10:00")
        city = (await create(clerk))["application"]["number"]
        async with staff("clerk-group", "各供电企业") as group:
            of_group = (await create(group, unit="各供电企业"))["application"]["number"]
        for username, unit in (
            ("clerk-guangrao", "国网广饶县供电公司"),
            ("clerk-shengli", "国网胜利供电公司"),
        ):
            async with staff(username, unit) as other:
                assert await numbers(other) == []
                for number in (city, of_group):
                    refused = await other.get(f"/applications/{number}")
                    assert (refused.status_code, refused.json()["code"]) == (403, "not_your_unit")
                listed = await other.get("/applications", params={"unit": "国网东营供电公司"})
                assert (listed.status_code, listed.json()["code"]) == (403, "not_your_unit")
                made = await other.post(f"/applications/{city}/stages/acceptance/complete", json={})
                assert (made.status_code, made.json()["code"]) == (403, "not_your_unit")
        # The company does not see the group's own application either.
        assert await numbers(clerk) == [city]

    async def test_cannot_accept_for_its_company(self, staff, clock):
        clock.set("2026-03-02 10:00")
        async with staff("clerk-guangrao", "国网广饶县供电公司") as branch:
            refused = await branch.post(
                "/applications",
                json=application_body(unit="国网东营供电公司"),
            )
            assert (refused.status_code, refused.json()["code"]) == (403, "not_your_unit")


class TestGroupSupervisor:
    async def test_sees_what_its_members_supervise(self, staff, clerk, clock):
        clock.set("2026-03-02 10:00")
        number = (await create(clerk))["application"]["number"]
        async with staff("sup-group", "各电力主管部门", role=Role.supervisor) as group:
            assert await numbers(group) == [number]
            assert (await group.get(f"/applications/{number}")).status_code == 200
        async with staff("sup-county", "广饶县发展改革局", role=Role.supervisor) as county:
            assert await numbers(county) == []
            refused = await county.get(f"/applications/{number}")
            assert (refused.status_code, refused.json()["code"]) == (403, "not_your_unit")


class TestOtherListings:
    async def test_monitoring_follows_the_hierarchy(self, staff, clerk, clock):
        clock.set("2026-03-02 10:00")
        await create(clerk)
        clock.set("2026-03-04 10:00")  # the one working day for 业务受理 has passed
        async with staff("clerk-group", "各供电企业") as group:
            seen = await group.get("/monitoring/stages", params={"state": "overdue"})
            assert seen.json()["total"] == 1
        async with staff("clerk-guangrao", "国网广饶县供电公司") as branch:
            seen = await branch.get("/monitoring/stages", params={"state": "overdue"})
            assert seen.json()["total"] == 0


class TestGroupClerkPauses:
    """Pausing the clock (暂停计时) and its evidence follow the hierarchy like everything else."""

    async def test_pauses_resumes_and_reads_the_evidence_of_a_members_application(
        self, staff, clerk, clock
    ):
        clock.set("2025-10-13 10:00")
        number = (await create(clerk))["application"]["number"]
        october = {"period_start": "2025-10-01", "period_end": "2025-10-31"}
        async with staff("clerk-group", "各供电企业") as group:
            paused = await group.post(
                f"/applications/{number}/pause", json={"reason": "customer_works"}
            )
            assert paused.status_code == 200, paused.text
            clock.set("2025-10-14 10:00")
            resumed = await group.post(f"/applications/{number}/resume", json={})
            assert resumed.status_code == 200, resumed.text
            one = await group.get(f"/applications/{number}/pauses/evidence")
            assert one.status_code == 200, one.text
            assert [p["started_by"] for p in one.json()["pauses"]] == ["clerk-group"]
            for unit in (None, "各供电企业", "国网东营供电公司"):
                params = october if unit is None else {**october, "unit": unit}
                period = await group.get("/pauses/evidence", params=params)
                assert period.status_code == 200, period.text
                assert [p["application"] for p in period.json()["pauses"]] == [number]
        async with staff("clerk-shengli", "国网胜利供电公司") as other:
            assert (await other.get("/pauses/evidence", params=october)).json()["pauses"] == []
            for refused in (
                await other.post(
                    f"/applications/{number}/pause", json={"reason": "customer_works"}
                ),
                await other.get(f"/applications/{number}/pauses/evidence"),
                await other.get("/pauses/evidence", params={**october, "unit": "国网东营供电公司"}),
            ):
                assert (refused.status_code, refused.json()["code"]) == (403, "not_your_unit")


class TestGroupClerkFees:
    async def test_adds_and_voids_a_members_fee_which_a_sibling_may_not(self, staff, clerk, clock):
        clock.set("2025-09-30 10:00")
        number = (await create(clerk))["application"]["number"]
        async with staff("clerk-group", "各供电企业") as group:
            added = await add(group, number, HIGH_RELIABILITY)
            assert added.status_code == 201, added.text
            [item] = (await group.get(f"/applications/{number}/fees")).json()["items"]
            voided = await group.post(
                f"/applications/{number}/fees/{item['id']}/void", json={"reason": "录入有误"}
            )
            assert voided.status_code == 200, voided.text
        async with staff("clerk-shengli", "国网胜利供电公司") as other:
            refused = await add(other, number, HIGH_RELIABILITY)
            assert (refused.status_code, refused.json()["code"]) == (403, "not_your_unit")
