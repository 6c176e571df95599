"""A correction that changes the 三零 decision switches an open application's workflow: into 三零
when a low-voltage small business comes under the limit, out of it when it goes above; completed
stages stay, the open one is replaced, and the stage record replayed from the log still matches.
A clerk's override is kept across corrections, and an override into 三零 is accepted."""

from datetime import date
from decimal import Decimal

import pytest

from services.intake.rules import three_zero as rules
from services.intake.rules.three_zero import Area, CustomerCategory, ThreeZeroPolicy
from tests.intake.applications.test_recompute_api import dongying_version
from tests.intake.applications.test_stages_api import CONNECTION_POINT, complete
from tests.intake.whitelist.test_three_zero_from_facts import SIMPLIFIED, accepted, small_business
from tests.intake.whitelist.test_three_zero_rejudge import correct, log_of

STANDARD = ["acceptance", "supply_plan", "connection"]


def stages_of(application):
    return [s["stage"] for s in application["stages"]]


async def verified(client, number):
    check = (await client.get(f"/applications/{number}/log/verify")).json()
    assert check["valid"], check
    return check


class TestIntoThreeZero:
    async def test_a_correction_under_the_limit_switches_to_the_three_zero_workflow(
        self, clerk, clock
    ):
        clock.set("2026-03-02 09:30")
        created = await accepted(clerk, small_business("200"))
        number = created["number"]
        assert (created["customer_type"], stages_of(created)) == ("low_voltage", STANDARD)
        assert created["three_zero"]["eligible"] is False
        clock.set("2026-03-02 14:00")
        response = await correct(clerk, number, "capacity_kw", "100", "用户核减报装容量")
        assert response.status_code == 200, response.text
        corrected = response.json()
        assert corrected["customer_type"] == "low_voltage_three_zero"
        assert stages_of(corrected) == SIMPLIFIED
        assert corrected["current_stage"] == "signing"
        # The open stage's clock runs on from acceptance.
        assert corrected["stages"][0]["started_at"] == "2026-03-02T09:30:00+08:00"
        # 受理签约 has 1 working day in Dongying: due the next working day, as the log replays.
        assert corrected["stages"][0]["time"]["limit_days"] == 1
        assert corrected["stages"][0]["due_date"] == "2026-03-03"
        three_zero = corrected["three_zero"]
        assert (three_zero["eligible"], three_zero["zero_investment"]) == (True, True)
        assert three_zero["declared_customer_type"] == "low_voltage"
        kinds = [e["kind"] for e in await log_of(clerk, number)]
        assert kinds[-3:] == ["corrected", "three_zero_rejudged", "workflow_switched"]
        switched = (await log_of(clerk, number))[-1]
        assert (switched["payload"]["from"], switched["payload"]["to"]) == (
            "low_voltage",
            "low_voltage_three_zero",
        )
        assert switched["payload"]["total_limit_days"] == 5
        await verified(clerk, number)
        fees = (await clerk.get(f"/applications/{number}/fees")).json()
        assert fees["zero_investment"] is True

    async def test_completed_stages_are_kept_and_the_rest_follows_three_zero(self, clerk, clock):
        clock.set("2025-11-04 10:00")
        number = (await accepted(clerk, small_business("200")))["number"]
        clock.set("2025-11-05 10:00")
        assert (await complete(clerk, number, "acceptance")).status_code == 200
        clock.set("2025-11-05 15:00")
        response = await correct(clerk, number, "capacity_kw", "150")
        assert response.status_code == 200, response.text
        corrected = response.json()
        assert stages_of(corrected) == ["acceptance", "signing", "construction_connection"]
        assert [s["state"] for s in corrected["stages"]] == ["done", "open", "pending"]
        assert corrected["stages"][1]["started_at"] == "2025-11-05T10:00:00+08:00"
        await verified(clerk, number)
        clock.set("2025-11-06 10:00")
        assert (await complete(clerk, number, "signing")).status_code == 200
        clock.set("2025-11-07 10:00")
        done = await complete(clerk, number, "construction_connection", **CONNECTION_POINT)
        assert done.status_code == 200, done.text
        assert done.json()["status"] == "connected"
        await verified(clerk, number)

    async def test_a_paused_application_switches_with_its_pause(self, clerk, clock):
        clock.set("2026-04-07 09:00")
        number = (await accepted(clerk, small_business("180")))["number"]
        paused = await clerk.post(
            f"/applications/{number}/pause",
            json={"reason": "missing_material", "note": "等待客户补充营业执照"},
        )
        assert paused.status_code == 200, paused.text
        clock.set("2026-04-08 09:00")
        response = await correct(clerk, number, "capacity_kw", "120")
        assert response.status_code == 200, response.text
        assert response.json()["status"] == "paused"
        assert stages_of(response.json()) == SIMPLIFIED
        await verified(clerk, number)
        clock.set("2026-04-09 09:00")
        assert (await clerk.post(f"/applications/{number}/resume", json={})).status_code == 200
        await verified(clerk, number)


class TestPolicyEnteredLater:
    async def test_a_switched_application_takes_a_late_version_s_limits(
        self, intake_admin, clerk, clock
    ):
        clock.set("2025-09-30 10:00")
        number = (await accepted(clerk, small_business("200")))["number"]
        clock.set("2025-10-09 09:00")
        assert (await complete(clerk, number, "acceptance")).status_code == 200
        assert (await correct(clerk, number, "capacity_kw", "100")).status_code == 200
        version = dongying_version(code="dongying-2025", effective_from="2025-09-01")
        three_zero_entry = next(
            e for e in version["entries"] if e["customer_type"] == "low_voltage_three_zero"
        )
        three_zero_entry["stages"][1]["limit_days"] = 3  # 施工接电 4 → 3
        three_zero_entry["total_days"] = 4
        clock.set("2025-10-09 11:00")
        response = await intake_admin.post("/policies", json=version)
        assert response.status_code == 201, response.text
        assert response.json()["rejudged_applications"] == 1
        detail = (await clerk.get(f"/applications/{number}")).json()
        assert detail["policy_code"] == "dongying-2025"
        assert stages_of(detail) == ["acceptance", "signing", "construction_connection"]
        event = (await log_of(clerk, number))[-1]
        assert event["kind"] == "policy_rejudged"
        assert event["payload"]["stages"] == [
            ["acceptance", 1],
            ["signing", 1],
            ["construction_connection", 3],
        ]
        assert detail["total"]["limit_days"] == 4
        await verified(clerk, number)


class TestOutOfThreeZero:
    async def test_a_correction_above_the_limit_switches_back(self, clerk, clock):
        clock.set("2026-01-12 10:00")
        created = await accepted(clerk, small_business("100"))
        number = created["number"]
        assert stages_of(created) == SIMPLIFIED
        clock.set("2026-01-13 10:00")
        assert (await complete(clerk, number, "signing")).status_code == 200
        response = await correct(clerk, number, "capacity_kw", "250", "现场核实容量为250千瓦")
        assert response.status_code == 200, response.text
        corrected = response.json()
        assert corrected["customer_type"] == "low_voltage"
        assert stages_of(corrected) == ["signing", "connection"]
        assert [s["state"] for s in corrected["stages"]] == ["done", "open"]
        three_zero = corrected["three_zero"]
        assert (three_zero["eligible"], three_zero["declared_customer_type"]) == (False, None)
        await verified(clerk, number)
        fees = (await clerk.get(f"/applications/{number}/fees")).json()
        assert fees["zero_investment"] is False

    async def test_a_connected_application_keeps_its_stages(self, clerk, clock):
        clock.set("2026-01-12 10:00")
        number = (await accepted(clerk, small_business("100")))["number"]
        clock.set("2026-01-13 10:00")
        assert (await complete(clerk, number, "signing")).status_code == 200
        done = await complete(clerk, number, "construction_connection", **CONNECTION_POINT)
        assert done.status_code == 200, done.text
        response = await correct(clerk, number, "capacity_kw", "250")
        assert response.status_code == 200, response.text
        assert stages_of(response.json()) == SIMPLIFIED
        assert response.json()["three_zero"]["eligible"] is False
        assert (await log_of(clerk, number))[-1]["kind"] == "three_zero_rejudged"
        await verified(clerk, number)


class TestOverrideKept:
    async def test_an_override_out_of_three_zero_survives_corrections(self, clerk, clock):
        clock.set("2026-02-09 09:00")
        reason = "用户为大型企业集团分支机构，不属于小微企业"
        created = await accepted(
            clerk, small_business("100", three_zero_override={"eligible": False, "reason": reason})
        )
        number = created["number"]
        assert stages_of(created) == STANDARD
        response = await correct(clerk, number, "capacity_kw", "120")
        assert response.status_code == 200, response.text
        corrected = response.json()
        assert (corrected["customer_type"], stages_of(corrected)) == ("low_voltage", STANDARD)
        three_zero = corrected["three_zero"]
        assert three_zero["eligible"] is False
        assert three_zero["override"]["reason"] == reason
        assert "workflow_switched" not in [e["kind"] for e in await log_of(clerk, number)]
        await verified(clerk, number)


@pytest.fixture
def lower_limit(monkeypatch):
    """A Dongying 三零 version from 2026-01-01 covering small businesses up to 100 kW only, so
    that the facts can say 不适用 below the 160 kW ceiling (as Jingyu's rural 100 kW did in
    2021): the only case in which an override into 三零 can be taken."""
    shipped = rules.load_three_zero_rules()
    base = next(p for p in shipped.policies if p.code == "dongying-2021-06")
    version = ThreeZeroPolicy(
        **{
            **base.model_dump(),
            "code": "dongying-2026-lower",
            "effective_from": date(2026, 1, 1),
            "limits_kw": {
                CustomerCategory.residential: {a: Decimal(160) for a in Area},
                CustomerCategory.small_micro_enterprise: {a: Decimal(100) for a in Area},
            },
        }
    )
    patched = shipped.model_copy(update={"policies": (*shipped.policies, version)})
    monkeypatch.setattr(rules, "load_three_zero_rules", lambda: patched)
    return version


class TestOverrideIntoThreeZero:
    async def test_shipped_limits_leave_nothing_to_override_into(self, clerk, clock):
        """With the shipped 160 kW limits the facts refuse 三零 only above the ceiling, where an
        override into 三零 is refused too."""
        clock.set("2026-01-12 10:00")
        override = {"eligible": True, "reason": "县政府专项支持项目"}
        for capacity, code in (
            ("160", "three_zero_override_not_needed"),
            ("161", "three_zero_over_160kw"),
        ):
            response = await clerk.post(
                "/applications", json=small_business(capacity, three_zero_override=override)
            )
            assert response.status_code == 422, response.text
            assert response.json()["errors"][0]["code"] == code

    async def test_an_override_into_three_zero_is_accepted_and_recorded(
        self, clerk, clock, lower_limit
    ):
        clock.set("2026-05-11 10:00")
        reason = "经县政府批复纳入“三零”服务范围"
        application = await accepted(
            clerk,
            small_business("120", three_zero_override={"eligible": True, "reason": reason}),
        )
        number = application["number"]
        three_zero = application["three_zero"]
        assert three_zero["policy_code"] == "dongying-2026-lower"
        assert (three_zero["eligible"], three_zero["zero_investment"]) == (True, True)
        assert three_zero["override"]["eligible_by_facts"] is False
        assert three_zero["override"]["eligible"] is True
        assert three_zero["override"]["reason"] == reason
        assert three_zero["declared_customer_type"] == "low_voltage"
        assert application["customer_type"] == "low_voltage_three_zero"
        assert stages_of(application) == SIMPLIFIED
        assert any(reason in r for r in three_zero["reasons"])
        log = await log_of(clerk, number)
        event = next(e for e in log if e["kind"] == "three_zero_overridden")
        assert (event["payload"]["eligible_by_facts"], event["payload"]["eligible"]) == (
            False,
            True,
        )
        assert event["payload"]["declared_customer_type"] == "low_voltage"
        assert event["payload"]["customer_type"] == "low_voltage_three_zero"
        await verified(clerk, number)
        fees = (await clerk.get(f"/applications/{number}/fees")).json()
        assert fees["zero_investment"] is True

        # Corrections keep the override: still 三零 at 150 kW, refused above the ceiling.
        response = await correct(clerk, number, "capacity_kw", "150")
        assert response.status_code == 200, response.text
        assert response.json()["customer_type"] == "low_voltage_three_zero"
        assert response.json()["three_zero"]["eligible"] is True
        assert response.json()["three_zero"]["override"]["reason"] == reason
        before = await log_of(clerk, number)
        refused = await correct(clerk, number, "capacity_kw", "200")
        assert refused.status_code == 422, refused.text
        assert refused.json()["errors"][0]["code"] == "three_zero_over_160kw"
        assert await log_of(clerk, number) == before
        await verified(clerk, number)
        clock.set("2026-05-12 10:00")
        assert (await complete(clerk, number, "signing")).status_code == 200
        done = await complete(clerk, number, "construction_connection", **CONNECTION_POINT)
        assert done.status_code == 200, done.text
        await verified(clerk, number)
