"""三零 on acceptance, the grid capacity staff keep per area (配电网接入能力), and the whitelist
(白名单) of applications waiting for a grid upgrade (配套电网改造)."""

import pytest

from shared.auth import Role
from tests.conftest import client_for
from tests.intake.conftest import (
    DONGYING_UNIT,
    JINGYU_UNIT,
    application_body,
    create,
    staff_token,
)

SITE = {"address": "东营区黄河路 18 号", "area_class": "urban"}


async def add_area(client, name, kva="500", **flags):
    body = {"unit": DONGYING_UNIT, "name": name, "available_kva": kva, **flags}
    return await client.post("/grid-areas", json=body)


async def small_business(client, area=None, capacity="100", **changes):
    site = {**SITE, "grid_area": area} if area else SITE
    return await create(
        client, customer_type="low_voltage_three_zero", capacity_kw=capacity, site=site, **changes
    )


class TestGridAreas:
    async def test_kept_by_admins_and_the_units_clerks_stamped_by_the_server(
        self, intake_admin, clerk, other_clerk, supervisor, clock
    ):
        clock.set("2025-09-30 10:00")
        created = await add_area(intake_admin, "府前1号台区", "630")
        assert created.status_code == 201, created.text
        area = created.json()
        assert (area["unit"], area["available_kva"], area["status_label"]) == (
            DONGYING_UNIT,
            "630.00",
            "可开放",
        )
        assert (area["updated_at"], area["updated_by"]) == ("2025-09-30T10:00:00+08:00", "admin")
        assert (await add_area(clerk, "黄河路台区", capacity_limited=True)).status_code == 201
        assert (await add_area(other_clerk, "某台区")).json()["code"] == "not_your_unit"
        assert (await add_area(supervisor, "某台区")).json()["code"] == (
            "grid_area_maintainer_required"
        )
        duplicate = await add_area(clerk, "府前1号台区")
        assert (duplicate.status_code, duplicate.json()["code"]) == (409, "grid_area_exists")

        clock.set("2025-10-09 09:00")
        updated = await clerk.patch(
            f"/grid-areas/{area['id']}", json={"available_kva": "0", "capacity_limited": True}
        )
        assert updated.status_code == 200, updated.text
        assert (updated.json()["status_label"], updated.json()["updated_by"]) == (
            "容量受限",
            "clerk-wang",
        )
        assert updated.json()["updated_at"] == "2025-10-09T09:00:00+08:00"
        assert (await clerk.patch(f"/grid-areas/{area['id']}", json={})).json()["code"] == (
            "nothing_to_update"
        )
        assert (await other_clerk.patch(f"/grid-areas/{area['id']}", json={"note": "x"})).json()[
            "code"
        ] == "not_your_unit"
        assert (await clerk.patch("/grid-areas/999999", json={"note": "x"})).status_code == 404
        listed = (await supervisor.get("/grid-areas", params={"unit": DONGYING_UNIT})).json()
        assert [a["name"] for a in listed] == ["府前1号台区", "黄河路台区"]
        assert (await clerk.get("/grid-areas", params={"unit": JINGYU_UNIT})).json() == []


class TestThreeZeroOnAcceptance:
    async def test_an_eligible_small_business_with_room_on_the_grid(self, clerk, clock):
        await add_area(clerk, "府前1号台区", "630")
        application = (await small_business(clerk, "府前1号台区"))["application"]
        three_zero = application["three_zero"]
        assert three_zero["policy_code"] == "dongying-2021-06"
        assert (three_zero["eligible"], three_zero["zero_investment"]) == (True, True)
        assert (three_zero["capacity_limit_kw"], three_zero["grid_area"]) == (
            "160.00",
            "府前1号台区",
        )
        assert (three_zero["whitelist"], three_zero["whitelist_status"]) == (False, None)
        assert "投资至电能表" in three_zero["reasons"][0]

    @pytest.mark.parametrize(
        ("area", "capacity", "why"),
        [
            ({"kva": "630", "capacity_limited": True}, "100", "容量受限"),
            ({"kva": "80"}, "100", "超过配电网区域"),
            ({"kva": "630", "in_grid_plan": False}, "100", "未纳入电网规划"),
        ],
    )
    async def test_a_capacity_limited_area_puts_it_on_the_whitelist(
        self, clerk, clock, area, capacity, why
    ):
        await add_area(clerk, "黄河路台区", **area)
        application = (await small_business(clerk, "黄河路台区", capacity))["application"]
        three_zero = application["three_zero"]
        assert (three_zero["eligible"], three_zero["whitelist"]) == (True, True)
        assert three_zero["whitelist_status_label"] == "待配套电网改造"
        assert why in three_zero["reasons"][1]
        assert "白名单" in three_zero["reasons"][2]

    async def test_high_voltage_is_not_three_zero_even_in_a_limited_area(self, clerk, clock):
        await add_area(clerk, "黄河路台区", capacity_limited=True)
        application = (await create(clerk, site={**SITE, "grid_area": "黄河路台区"}))["application"]
        three_zero = application["three_zero"]
        assert (three_zero["eligible"], three_zero["whitelist"]) == (False, False)
        assert (await clerk.get("/whitelist")).json()["total"] == 0

    async def test_an_unknown_area_is_refused(self, clerk, clock):
        response = await clerk.post(
            "/applications", json=application_body(site={**SITE, "grid_area": "不存在台区"})
        )
        assert response.status_code == 422
        assert response.json()["errors"][0]["field"] == "site.grid_area"
        assert response.json()["errors"][0]["code"] == "grid_area_unknown"

    async def test_the_policy_in_force_on_the_day_decides(self, intake, apps, clock):
        """Jingyu: rural small businesses up to 100 kW in 2021, 160 kW in 2022 (each year's
        target from its first day); for 2020 the plan sets no 三零 investment limit."""
        token = await staff_token(apps, "clerk-li", Role.clerk, (JINGYU_UNIT,))
        rural = {"address": "靖宇县某村", "area_class": "rural"}
        async with client_for(intake, token) as jingyu:

            async def apply(day):
                clock.set(day)
                return await jingyu.post(
                    "/applications",
                    json=application_body(
                        jurisdiction="jingyu",
                        unit=JINGYU_UNIT,
                        customer_type="low_voltage_three_zero",
                        capacity_kw="120",
                        site=rural,
                    ),
                )

            refused = await apply("2021-06-01 09:00")
            assert refused.status_code == 422, refused.text
            [error] = refused.json()["errors"]
            assert (error["field"], error["code"]) == ("capacity_kw", "three_zero_over_limit")
            assert "100千瓦" in error["message"]
            accepted = await apply("2022-06-01 09:00")
            assert accepted.status_code == 201, accepted.text
            assert accepted.json()["application"]["three_zero"]["policy_code"] == "jingyu-2022"
            early = (await apply("2020-06-01 09:00")).json()["application"]["three_zero"]
            assert (early["policy_code"], early["zero_investment"]) == (None, False)


class TestWhitelist:
    async def whitelisted(self, clerk, clock):
        clock.set("2025-09-30 10:00")
        await add_area(clerk, "黄河路台区", capacity_limited=True)
        await add_area(clerk, "府前1号台区")
        first = (await small_business(clerk, "黄河路台区"))["application"]["number"]
        second = (await small_business(clerk, "黄河路台区", "50"))["application"]["number"]
        await small_business(clerk, "府前1号台区")  # room on the grid: not whitelisted
        return first, second

    async def test_listed_and_filtered_for_staff(self, clerk, supervisor, intake_admin, clock):
        first, second = await self.whitelisted(clerk, clock)
        page = (await clerk.get("/whitelist")).json()
        assert page["total"] == 2
        assert [i["number"] for i in page["items"]] == [first, second]
        item = page["items"][0]
        assert (item["grid_area"], item["status"], item["status_label"]) == (
            "黄河路台区",
            "pending_upgrade",
            "待配套电网改造",
        )
        assert item["mobile"] == "13800138000"  # the unit's clerk
        for reader in (supervisor, intake_admin):
            assert (await reader.get("/whitelist")).json()["items"][0]["mobile"] == "138****8000"
        assert (await clerk.get("/whitelist", params={"area": "府前1号台区"})).json()["total"] == 0
        assert (
            await clerk.get("/whitelist", params={"unit": DONGYING_UNIT, "status": "released"})
        ).json()["total"] == 0
        assert (await clerk.get("/whitelist", params={"unit": JINGYU_UNIT})).json()["code"] == (
            "not_your_unit"
        )

    async def test_upgrade_then_release_in_order_with_who_and_when(self, clerk, other_clerk, clock):
        first, _ = await self.whitelisted(clerk, clock)

        async def move(client, status, note=""):
            return await client.post(
                f"/applications/{first}/whitelist", json={"status": status, "note": note}
            )

        early = await move(clerk, "released")
        assert (early.status_code, early.json()["code"]) == (
            409,
            "whitelist_transition_not_allowed",
        )
        assert (await move(other_clerk, "upgrade_done")).json()["code"] == "not_your_unit"
        clock.set("2025-12-15 16:00")
        done = await move(clerk, "upgrade_done", "新增配变一台")
        assert done.status_code == 200, done.text
        assert (done.json()["upgrade_done_at"], done.json()["upgrade_done_by"]) == (
            "2025-12-15T16:00:00+08:00",
            "clerk-wang",
        )
        clock.set("2025-12-16 09:00")
        released = (await move(clerk, "released", "转入装表接电")).json()
        assert (released["status_label"], released["released_at"]) == (
            "已转入报装接电",
            "2025-12-16T09:00:00+08:00",
        )
        again = await move(clerk, "released")
        assert again.json()["code"] == "whitelist_transition_not_allowed"
        detail = (await clerk.get(f"/applications/{first}")).json()
        assert detail["three_zero"]["whitelist_status"] == "released"

    async def test_an_application_not_on_the_whitelist(self, clerk, clock):
        number = (await create(clerk))["application"]["number"]
        response = await clerk.post(
            f"/applications/{number}/whitelist", json={"status": "upgrade_done"}
        )
        assert (response.status_code, response.json()["code"]) == (404, "whitelist_entry_not_found")

    async def test_reported_per_unit_and_status(self, clerk, supervisor, clock):
        first, _ = await self.whitelisted(clerk, clock)
        await clerk.post(f"/applications/{first}/whitelist", json={"status": "upgrade_done"})
        report = (await supervisor.get("/whitelist/report")).json()
        [dongying] = report["jurisdictions"]
        assert dongying["units"] == [
            {
                "unit": DONGYING_UNIT,
                "pending_upgrade": 1,
                "upgrade_done": 1,
                "released": 0,
                "total": 2,
            }
        ]
        assert dongying["subtotal"]["total"] == report["overall"]["total"] == 2
        assert "白名单" in dongying["rule"]

    async def test_each_jurisdiction_cites_its_own_rule_and_source(
        self, clerk, other_clerk, intake_admin, clock
    ):
        """The report spans units: Dongying's records stand under Dongying's 白名单 rule, Jingyu's
        under the plain statement that Jingyu's plan has none — never Dongying's words."""
        await self.whitelisted(clerk, clock)
        jingyu_area = {"unit": JINGYU_UNIT, "name": "靖宇镇台区", "available_kva": "30"}
        assert (await other_clerk.post("/grid-areas", json=jingyu_area)).status_code == 201
        jingyu = await create(
            other_clerk,
            jurisdiction="jingyu",
            unit=JINGYU_UNIT,
            customer_type="low_voltage_three_zero",
            capacity_kw="50",
            site={
                "address": "靖宇县靖宇镇某街 8 号",
                "area_class": "rural",
                "grid_area": "靖宇镇台区",
            },
        )
        assert jingyu["application"]["three_zero"]["whitelist"] is True
        report = (await intake_admin.get("/whitelist/report")).json()
        groups = {g["jurisdiction"]: g for g in report["jurisdictions"]}
        assert sorted(groups) == ["dongying", "jingyu"]
        dongying, jingyu_group = groups["dongying"], groups["jingyu"]
        assert [u["unit"] for u in dongying["units"]] == [DONGYING_UNIT]
        assert [u["unit"] for u in jingyu_group["units"]] == [JINGYU_UNIT]
        assert (dongying["subtotal"]["total"], jingyu_group["subtotal"]["total"]) == (2, 1)
        assert report["overall"]["total"] == 3

        assert dongying["local_rule"] is True
        assert dongying["source"].endswith("（东发改能源〔2021〕122号）三、（三）1；附件2第36项")
        assert "建立“白名单”备案机制" in dongying["rule"]

        assert jingyu_group["local_rule"] is False
        for text in (jingyu_group["rule"], jingyu_group["source"]):
            assert "本方案没有“白名单”备案机制的规定" in text
            assert "东发改能源" not in text
            assert "《东营市" not in text
        assert "source" not in report
        assert "rule" not in report
