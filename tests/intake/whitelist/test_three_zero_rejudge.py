"""A correction of capacity_kw or area_class re-judges 三零; the new decision is a log event
and the earlier one stays in the log."""

from shared.auth import Role
from tests.conftest import client_for
from tests.intake.applications.test_log_api import tamper
from tests.intake.applications.test_stages_api import CONNECTION_POINT, complete
from tests.intake.conftest import JINGYU_UNIT, application_body, create, staff_token
from tests.intake.whitelist.test_whitelist_api import add_area, small_business


async def correct(client, number, field, value, reason="客户来电更正"):
    return await client.post(
        f"/applications/{number}/corrections",
        json={"field": field, "value": value, "reason": reason},
    )


async def log_of(client, number):
    return (await client.get(f"/applications/{number}/log")).json()


class TestRejudgement:
    async def test_a_capacity_correction_records_the_new_decision(self, clerk, clock):
        clock.set("2025-09-30 10:00")
        await add_area(clerk, "府前1号台区", "630")
        number = (await small_business(clerk, "府前1号台区", "100"))["application"]["number"]
        clock.set("2025-10-09 09:00")
        response = await correct(clerk, number, "capacity_kw", "80", "用户核减容量")
        assert response.status_code == 200, response.text
        assert response.json()["three_zero"]["assessed_at"] == "2025-10-09T09:00:00+08:00"
        corrected, rejudged = (await log_of(clerk, number))[-2:]
        assert (corrected["kind"], rejudged["kind"]) == ("corrected", "three_zero_rejudged")
        assert (rejudged["actor"], rejudged["reason"]) == ("clerk-wang", "用户核减容量")
        payload = rejudged["payload"]
        assert payload["trigger"] == "capacity_kw"
        assert payload["from"]["policy"] == payload["to"]["policy"] == "dongying-2021-06"
        assert payload["from"]["eligible"] is payload["to"]["eligible"] is True
        assert "whitelist" not in payload
        assert (await clerk.get(f"/applications/{number}/log/verify")).json()["valid"]

    async def test_a_correction_over_the_areas_capacity_puts_it_on_the_whitelist(
        self, clerk, clock
    ):
        clock.set("2025-09-30 10:00")
        await add_area(clerk, "府前1号台区", "120")
        created = (await small_business(clerk, "府前1号台区", "100"))["application"]
        number = created["number"]
        assert created["three_zero"]["whitelist"] is False
        clock.set("2025-10-09 09:00")
        assert (await correct(clerk, number, "capacity_kw", "150")).status_code == 200
        three_zero = (await clerk.get(f"/applications/{number}")).json()["three_zero"]
        assert (three_zero["whitelist"], three_zero["whitelist_status"]) == (
            True,
            "pending_upgrade",
        )
        rejudged = (await log_of(clerk, number))[-1]
        assert (
            rejudged["payload"]["from"]["whitelist"],
            rejudged["payload"]["to"]["whitelist"],
        ) == (
            False,
            True,
        )
        assert rejudged["payload"]["whitelist"] == {"from": "none", "to": "pending_upgrade"}
        # The connection now waits for the upgrade.
        for stage in [s["stage"] for s in created["stages"]][:-1]:
            assert (await complete(clerk, number, stage)).status_code == 200
        last = created["stages"][-1]["stage"]
        refused = await complete(clerk, number, last, **CONNECTION_POINT)
        assert refused.json()["code"] == "whitelist_pending"

        # Corrected back: the record no longer waits, and the connection goes ahead.
        assert (await correct(clerk, number, "capacity_kw", "100")).status_code == 200
        back = (await log_of(clerk, number))[-1]
        assert back["payload"]["whitelist"] == {"from": "pending_upgrade", "to": "released"}
        assert (await complete(clerk, number, last, **CONNECTION_POINT)).status_code == 200
        rejudgements = [
            e for e in await log_of(clerk, number) if e["kind"] == "three_zero_rejudged"
        ]
        assert [e["payload"]["to"]["whitelist"] for e in rejudgements] == [True, False]

    async def test_an_area_class_correction_beyond_the_rural_limit_is_refused(
        self, intake, apps, clock
    ):
        """Jingyu in 2021: small businesses up to 160 kW in towns, 100 kW in the countryside."""
        token = await staff_token(apps, "clerk-li", Role.clerk, (JINGYU_UNIT,))
        async with client_for(intake, token) as jingyu:
            clock.set("2021-06-01 09:00")
            created = await jingyu.post(
                "/applications",
                json=application_body(
                    jurisdiction="jingyu",
                    unit=JINGYU_UNIT,
                    customer_type="low_voltage_three_zero",
                    capacity_kw="120",
                    site={"address": "靖宇县某镇", "area_class": "town"},
                ),
            )
            assert created.status_code == 201, created.text
            number = created.json()["application"]["number"]
            before = await log_of(jingyu, number)
            refused = await correct(jingyu, number, "area_class", "rural")
            assert refused.status_code == 422, refused.text
            [error] = refused.json()["errors"]
            assert (error["field"], error["code"]) == ("value", "three_zero_over_limit")
            assert "100千瓦" in error["message"]
            assert await log_of(jingyu, number) == before
            detail = (await jingyu.get(f"/applications/{number}")).json()
            assert detail["site"]["area_class"] == "town"

    async def test_other_corrections_do_not_rejudge(self, clerk, clock):
        number = (await create(clerk))["application"]["number"]
        assert (await correct(clerk, number, "mobile", "13912345678")).status_code == 200
        assert [e["kind"] for e in await log_of(clerk, number)] == ["created", "corrected"]

    async def test_an_edited_rejudgement_breaks_the_chain(self, intake, clerk, clock):
        number = (await create(clerk, capacity_kw="400"))["application"]["number"]
        assert (await correct(clerk, number, "capacity_kw", "500")).status_code == 200
        rejudged = (await log_of(clerk, number))[-1]
        assert rejudged["payload"]["to"]["eligible"] is False
        await tamper(
            intake,
            "UPDATE application_events SET reason = '无' WHERE kind = 'three_zero_rejudged'",
        )
        check = (await clerk.get(f"/applications/{number}/log/verify")).json()
        assert (check["valid"], check["first_bad_seq"]) == (False, rejudged["seq"])
