"""Fee items (收费项目): banned names refused, extended services only at the listed price with the
customer's consent, statutory fees with their basis, nothing for the utility's part under 三零."""

from tests.intake.conftest import create

HIGH_RELIABILITY = {
    "kind": "statutory",
    "name": "高可靠性供电费",
    "amount": "24000.00",
    "basis": "鲁发改价格〔2017〕XX号",
}
MAINTENANCE = {
    "kind": "extended",
    "name": "受电工程代运行维护",
    "amount": "6000.00",
    "consent": {"evidence": "用户确认单 QR-2025-0001"},
}


async def add(client, number, *items):
    return await client.post(f"/applications/{number}/fees", json={"items": list(items)})


async def sheet(client, number):
    response = await client.get(f"/applications/{number}/fees")
    assert response.status_code == 200, response.text
    return response.json()


def refusals(response):
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["code"] == "fee_refused"
    return [(e["field"], e["code"]) for e in body["errors"]]


class TestAdding:
    async def test_statutory_and_extended_items_with_totals(self, clerk, anonymous, clock):
        clock.set("2025-09-30 10:00")
        created = await create(clerk)
        number = created["application"]["number"]
        response = await add(clerk, number, HIGH_RELIABILITY, {**MAINTENANCE, "quantity": "2"})
        assert refusals(response) == [("items[1]", "fee_price_mismatch")]
        response = await add(clerk, number, HIGH_RELIABILITY, MAINTENANCE)
        assert response.status_code == 201, response.text
        fees = response.json()
        assert fees["zero_investment"] is False
        assert (fees["statutory_total"], fees["extended_total"], fees["total"]) == (
            "24000.00",
            "6000.00",
            "30000.00",
        )
        statutory, extended = fees["items"]
        assert (statutory["kind_label"], statutory["service_code"]) == (
            "政府定价收费",
            "high_reliability_supply",
        )
        # The legal basis comes from the statutory list; the clerk's text is the price document.
        assert "发改价格〔2003〕2279号" in statutory["basis"]
        assert statutory["price_document"] == "鲁发改价格〔2017〕XX号"
        assert extended["service_code"] == "receiving_works_maintenance"
        assert (extended["unit"], extended["unit_price"]) == ("年", "6000.00")
        assert extended["consented_at"] == "2025-09-30T10:00:00+08:00"
        assert extended["consent_recorded_by"] == "clerk-wang"
        assert extended["consent_evidence"] == "用户确认单 QR-2025-0001"
        detail = (await clerk.get(f"/applications/{number}")).json()
        assert detail["fees"]["total"] == "30000.00"
        progress = (
            await anonymous.get(
                f"/public/applications/{number}/progress",
                headers={"X-Query-Code": created["query_code"]},
            )
        ).json()
        assert [(f["name"], f["amount"]) for f in progress["fees"]] == [
            ("高可靠性供电费", "24000.00"),
            ("受电工程代运行维护", "6000.00"),
        ]
        assert progress["fee_total"] == "30000.00"

    async def test_banned_names_and_similar_ones_are_refused_naming_the_item(self, clerk, clock):
        number = (await create(clerk))["application"]["number"]
        response = await add(
            clerk,
            number,
            HIGH_RELIABILITY,
            {"kind": "statutory", "name": "移表费", "amount": "300", "basis": "无"},
            {"kind": "extended", "name": "电能表 校验费用", "amount": "80"},
            {"kind": "statutory", "name": "高压电缆振荡波试验费", "amount": "5000", "basis": "x"},
        )
        assert refusals(response) == [
            ("items[1]", "fee_banned"),
            ("items[2]", "fee_banned_similar"),
            ("items[3]", "fee_banned"),
        ]
        messages = [e["message"] for e in response.json()["errors"]]
        assert "移表费" in messages[0]
        assert "电能表 校验费用" in messages[1]
        assert (await sheet(clerk, number))["items"] == []  # nothing of the request was stored

    async def test_extended_services_need_a_listing_a_price_and_consent(self, clerk, clock):
        number = (await create(clerk))["application"]["number"]
        response = await add(
            clerk,
            number,
            {**MAINTENANCE, "consent": None},
            {**MAINTENANCE, "amount": "6500.00"},
            {
                "kind": "extended",
                "name": "上门代办服务",
                "amount": "200",
                "consent": {"evidence": "x"},
            },
        )
        assert refusals(response) == [
            ("items[0]", "fee_consent_missing"),
            ("items[1]", "fee_price_mismatch"),
            ("items[2]", "fee_not_listed"),
        ]

    async def test_a_statutory_fee_comes_from_the_list_and_is_not_a_listed_service(
        self, clerk, clock
    ):
        number = (await create(clerk))["application"]["number"]
        response = await add(
            clerk,
            number,
            {"kind": "statutory", "name": "增容配套费", "amount": "900", "basis": "某文件"},
            {**MAINTENANCE, "kind": "statutory", "basis": "无"},
        )
        assert refusals(response) == [
            ("items[0]", "fee_not_listed"),
            ("items[1]", "fee_listed_as_extended"),
        ]
        listed = await add(clerk, number, {**HIGH_RELIABILITY, "basis": None})
        assert listed.status_code == 201, listed.text
        assert "发改价格〔2003〕2279号" in listed.json()["items"][0]["basis"]

    async def test_only_the_units_clerk_adds_and_staff_read(
        self, clerk, other_clerk, supervisor, clock
    ):
        number = (await create(clerk))["application"]["number"]
        assert (await add(other_clerk, number, HIGH_RELIABILITY)).json()["code"] == "not_your_unit"
        assert (await add(supervisor, number, HIGH_RELIABILITY)).json()["code"] == "clerk_required"
        await add(clerk, number, HIGH_RELIABILITY)
        assert (await sheet(supervisor, number))["total"] == "24000.00"
        stamped = await clerk.post(
            f"/applications/{number}/fees",
            json={"items": [{**MAINTENANCE, "consent": {"evidence": "x", "consented_at": "2020"}}]},
        )
        assert stamped.status_code == 422


class TestZeroInvestment:
    async def test_a_three_zero_application_pays_nothing_for_the_utilitys_part(self, clerk, clock):
        clock.set("2025-09-30 10:00")
        number = (await create(clerk, customer_type="low_voltage_three_zero", capacity_kw="100"))[
            "application"
        ]["number"]
        assert (await sheet(clerk, number))["zero_investment"] is True
        response = await add(
            clerk,
            number,
            {"kind": "statutory", "name": "电能表安装费", "amount": "500", "basis": "某文件"},
            {"kind": "statutory", "name": "接户线工程费", "amount": "800", "basis": "某文件"},
            {**HIGH_RELIABILITY, "utility_side": True},
        )
        assert refusals(response) == [
            ("items[0]", "fee_zero_investment"),
            ("items[1]", "fee_zero_investment"),
            ("items[2]", "fee_zero_investment"),
        ]
        # The customer's own side may still carry an extended service they chose.
        assert (await add(clerk, number, MAINTENANCE)).status_code == 201

    async def test_the_same_item_is_allowed_without_three_zero(self, clerk, clock):
        number = (await create(clerk, customer_type="low_voltage", capacity_kw="200"))[
            "application"
        ]["number"]
        assert (await sheet(clerk, number))["zero_investment"] is False
        item = {"kind": "statutory", "name": "接户线工程费", "amount": "800", "basis": "某文件"}
        # Not refused for 三零 but for the lists, so it may be held for a supervisor instead.
        assert refusals(await add(clerk, number, item)) == [("items[0]", "fee_not_listed")]
        held = await add(clerk, number, {**item, "hold": {"reason": "用户自建接户线委托施工"}})
        assert held.status_code == 201, held.text
        assert held.json()["items"][0]["approval"] == "pending"


class TestVoiding:
    async def test_a_wrong_item_is_voided_with_a_reason_and_kept(self, clerk, clock):
        clock.set("2025-09-30 10:00")
        number = (await create(clerk))["application"]["number"]
        items = (await add(clerk, number, HIGH_RELIABILITY, MAINTENANCE)).json()["items"]
        clock.set("2025-09-30 11:00")
        response = await clerk.post(
            f"/applications/{number}/fees/{items[1]['id']}/void", json={"reason": "用户撤回确认"}
        )
        assert response.status_code == 200, response.text
        fees = response.json()
        assert (fees["extended_total"], fees["total"]) == ("0.00", "24000.00")
        voided = fees["items"][1]
        assert (voided["voided_at"], voided["voided_by"], voided["void_reason"]) == (
            "2025-09-30T11:00:00+08:00",
            "clerk-wang",
            "用户撤回确认",
        )
        again = await clerk.post(
            f"/applications/{number}/fees/{items[1]['id']}/void", json={"reason": "再次"}
        )
        assert (again.status_code, again.json()["code"]) == (409, "fee_already_voided")
        missing = await clerk.post(f"/applications/{number}/fees/999999/void", json={"reason": "x"})
        assert (missing.status_code, missing.json()["code"]) == (404, "fee_not_found")

    async def test_an_ended_application_keeps_its_fees(self, clerk, clock):
        number = (await create(clerk))["application"]["number"]
        await add(clerk, number, HIGH_RELIABILITY)
        await clerk.post(f"/applications/{number}/close", json={"reason": "客户撤回申请"})
        response = await add(clerk, number, MAINTENANCE)
        assert (response.status_code, response.json()["code"]) == (409, "application_ended")
        assert (await sheet(clerk, number))["total"] == "24000.00"


class TestPersonalData:
    async def test_free_text_is_masked_for_staff_outside_the_unit(self, clerk, supervisor, clock):
        number = (await create(clerk))["application"]["number"]
        evidence = {"evidence": "用户 13800138000 短信确认"}
        await add(clerk, number, {**MAINTENANCE, "consent": evidence})
        assert (await sheet(clerk, number))["items"][0]["consent_evidence"] == evidence["evidence"]
        for shown in (
            (await sheet(supervisor, number))["items"][0]["consent_evidence"],
            (await supervisor.get(f"/applications/{number}")).json()["fees"]["items"][0][
                "consent_evidence"
            ],
        ):
            assert shown == "用户 138****8000 短信确认"
