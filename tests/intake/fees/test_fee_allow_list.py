"""Fees come from the lists (收费清单): the statutory items with their legal basis and the priced
extended services. The similar names the Jingyu plan bans (类似名目) are refused whatever basis is
typed beside them; anything else off the lists is refused, or held for a supervisor's approval
with a reason, and is not charged or shown to the applicant until approved."""

import pytest

from services.intake.rules.fees import banned_fee_match, load_fee_rules
from tests.intake.conftest import JINGYU_UNIT, create
from tests.intake.fees.test_fees_api import HIGH_RELIABILITY, add, refusals, sheet

# Entered as statutory with any text as the basis, all six were accepted before.
SIMILAR_NAMES = [
    "表计迁移费",
    "电能表移位费",
    "继电保护定值计算费",
    "开关站建设分摊费",
    "低压计量检验费",
    "带电接火费",
]
OFF_LIST = {
    "kind": "statutory",
    "name": "临时用电方案编制费",
    "amount": "1200.00",
    "basis": "某县物价局批复",
    "hold": {"reason": "用户要求出具临时用电方案，请监管人员核定能否收取"},
}


async def progress(anonymous, created):
    response = await anonymous.get(
        f"/public/applications/{created['application']['number']}/progress",
        headers={"X-Query-Code": created["query_code"]},
    )
    assert response.status_code == 200, response.text
    return response.json()


class TestTheLists:
    def test_statutory_items_carry_their_legal_basis(self):
        statutory = load_fee_rules().statutory
        assert [s.name for s in statutory.items] == ["高可靠性供电费", "临时接电费"]
        assert all("发改价格〔2003〕2279号" in s.basis for s in statutory.items)
        assert statutory.source_for("dongying").endswith("三、（三）3；附件2第41项")
        assert statutory.source_for("jingyu").endswith("三、（三）12")

    @pytest.mark.parametrize("name", SIMILAR_NAMES)
    def test_each_similar_name_matches_a_banned_one(self, name):
        assert banned_fee_match(name) is not None

    @pytest.mark.parametrize("name", ["高可靠性供电费", "临时接电费", "受电工程造价咨询"])
    def test_listed_items_are_not_banned(self, name):
        assert banned_fee_match(name) is None


class TestSimilarNames:
    async def test_all_six_are_refused_as_statutory_with_any_basis(self, clerk, clock):
        clock.set("2025-10-20 10:00")
        number = (await create(clerk))["application"]["number"]
        items = [
            {
                "kind": "statutory",
                "name": name,
                "amount": "300.00",
                "basis": "鲁价格文件〔2024〕1号",
            }
            for name in SIMILAR_NAMES
        ]
        response = await add(clerk, number, *items)
        assert refusals(response) == [(f"items[{i}]", "fee_banned_similar") for i in range(6)]
        messages = [e["message"] for e in response.json()["errors"]]
        assert all(name in message for name, message in zip(SIMILAR_NAMES, messages, strict=True))
        assert (await sheet(clerk, number))["items"] == []

    async def test_they_cannot_be_held_for_approval_either(self, clerk, clock):
        clock.set("2026-04-08 15:00")
        number = (await create(clerk))["application"]["number"]
        hold = {"reason": "用户同意支付"}
        items = [
            {"kind": kind, "name": name, "amount": "300.00", "basis": "x", "hold": hold}
            for name in SIMILAR_NAMES
            for kind in ("statutory", "extended")
        ]
        response = await add(clerk, number, *items)
        assert {code for _, code in refusals(response)} == {"fee_banned_similar"}
        assert len(response.json()["errors"]) == 12


class TestHeldForApproval:
    async def test_a_held_item_is_not_due_until_a_supervisor_approves(
        self, clerk, supervisor, anonymous, clock
    ):
        clock.set("2026-03-16 10:00")
        created = await create(clerk)
        number = created["application"]["number"]
        response = await add(clerk, number, HIGH_RELIABILITY, OFF_LIST)
        assert response.status_code == 201, response.text
        fees = response.json()
        held = fees["items"][1]
        assert (held["approval"], held["due"], held["hold_reason"]) == (
            "pending",
            False,
            OFF_LIST["hold"]["reason"],
        )
        assert held["basis"] == "某县物价局批复"
        assert (fees["total"], fees["statutory_total"], fees["pending_total"]) == (
            "24000.00",
            "24000.00",
            "1200.00",
        )
        shown = await progress(anonymous, created)
        assert [f["name"] for f in shown["fees"]] == ["高可靠性供电费"]
        assert shown["fee_total"] == "24000.00"

        queue = (await supervisor.get("/fees/pending")).json()["items"]
        assert [(q["number"], q["fee"]["id"]) for q in queue] == [(number, held["id"])]
        assert queue[0]["supervising_unit"] == "市发展改革委"
        clock.set("2026-03-17 09:30")
        path = f"/applications/{number}/fees/{held['id']}"
        denied = await clerk.post(f"{path}/approve", json={"note": "自己审核"})
        assert (denied.status_code, denied.json()["code"]) == (403, "supervisor_required")
        approved = await supervisor.post(f"{path}/approve", json={"note": "依据核实，同意收取"})
        assert approved.status_code == 200, approved.text
        item = approved.json()["items"][1]
        assert (item["approval"], item["due"], item["decided_by"], item["decided_at"]) == (
            "approved",
            True,
            "sup-zhao",
            "2026-03-17T09:30:00+08:00",
        )
        assert approved.json()["total"] == "25200.00"
        assert (await supervisor.get("/fees/pending")).json()["items"] == []
        shown = await progress(anonymous, created)
        assert [f["name"] for f in shown["fees"]] == ["高可靠性供电费", "临时用电方案编制费"]
        again = await supervisor.post(f"{path}/reject", json={"note": "改判"})
        assert (again.status_code, again.json()["code"]) == (409, "fee_already_decided")
        log = (await clerk.get(f"/applications/{number}/log")).json()
        added, decided = (e for e in log if e["kind"] in ("fee_added", "fee_approved"))
        assert added["payload"]["items"][1]["approval"] == "pending"
        assert (decided["actor"], decided["reason"]) == ("sup-zhao", "依据核实，同意收取")
        assert (await clerk.get(f"/applications/{number}/log/verify")).json()["valid"]

    async def test_a_rejected_item_is_never_charged(self, clerk, supervisor, anonymous, clock):
        clock.set("2026-05-11 10:00")
        created = await create(clerk)
        number = created["application"]["number"]
        held = (await add(clerk, number, OFF_LIST)).json()["items"][0]
        clock.set("2026-05-12 10:00")
        rejected = await supervisor.post(
            f"/applications/{number}/fees/{held['id']}/reject", json={"note": "无政府定价依据"}
        )
        assert rejected.status_code == 200, rejected.text
        fees = rejected.json()
        assert (fees["items"][0]["approval"], fees["total"], fees["pending_total"]) == (
            "rejected",
            "0.00",
            "0.00",
        )
        assert (await progress(anonymous, created))["fees"] == []
        listed = await supervisor.post(
            f"/applications/{number}/fees/{held['id']}/approve", json={"note": "x"}
        )
        assert listed.json()["code"] == "fee_already_decided"

    async def test_a_hold_needs_a_reason_a_basis_and_an_unlisted_item(self, clerk, clock):
        clock.set("2025-12-01 10:00")
        number = (await create(clerk))["application"]["number"]
        response = await add(
            clerk,
            number,
            {**OFF_LIST, "hold": {}},
            {**OFF_LIST, "hold": {"reason": "  "}},
            {**OFF_LIST, "basis": None},
            {**HIGH_RELIABILITY, "hold": {"reason": "谨慎起见"}},
            {"kind": "extended", "name": "上门代办服务", "amount": "200", "hold": {"reason": "x"}},
        )
        assert refusals(response) == [
            ("items[0]", "fee_hold_reason_required"),
            ("items[1]", "fee_hold_reason_required"),
            ("items[2]", "fee_basis_missing"),
            ("items[3]", "fee_hold_not_needed"),
            ("items[4]", "fee_consent_missing"),
        ]
        assert (await sheet(clerk, number))["items"] == []

    async def test_only_pending_items_are_decided(self, clerk, supervisor, intake_admin, clock):
        clock.set("2026-06-01 10:00")
        number = (await create(clerk))["application"]["number"]
        fees = (await add(clerk, number, HIGH_RELIABILITY)).json()["items"]
        not_held = await supervisor.post(
            f"/applications/{number}/fees/{fees[0]['id']}/approve", json={"note": "同意"}
        )
        assert (not_held.status_code, not_held.json()["code"]) == (409, "fee_not_held")
        missing = await intake_admin.post(
            f"/applications/{number}/fees/999999/approve", json={"note": "同意"}
        )
        assert (missing.status_code, missing.json()["code"]) == (404, "fee_not_found")
        held = (await add(clerk, number, OFF_LIST)).json()["items"][1]
        await clerk.post(
            f"/applications/{number}/fees/{held['id']}/void", json={"reason": "用户撤回"}
        )
        voided = await supervisor.post(
            f"/applications/{number}/fees/{held['id']}/approve", json={"note": "同意"}
        )
        assert (voided.status_code, voided.json()["code"]) == (409, "fee_already_voided")

    async def test_a_supervisor_sees_and_decides_only_what_their_unit_supervises(
        self, other_clerk, supervisor, intake_admin, clock
    ):
        clock.set("2026-06-01 10:00")
        jingyu = {
            "jurisdiction": "jingyu",
            "unit": JINGYU_UNIT,
            "site": {"address": "靖宇县工业园区", "area_class": "town"},
        }
        number = (await create(other_clerk, **jingyu))["application"]["number"]
        held = (await add(other_clerk, number, OFF_LIST)).json()["items"][0]
        assert (await supervisor.get("/fees/pending")).json()["items"] == []
        admin_queue = (await intake_admin.get("/fees/pending")).json()["items"]
        assert [q["number"] for q in admin_queue] == [number]
        refused = await supervisor.post(
            f"/applications/{number}/fees/{held['id']}/approve", json={"note": "同意"}
        )
        assert (refused.status_code, refused.json()["code"]) == (403, "not_your_unit")
