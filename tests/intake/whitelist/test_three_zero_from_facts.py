"""三零 is decided from the facts of an application, not from the type the clerk picked: a
low-voltage small business within the limit gets 三零, its workflow and its limits in both
jurisdictions; a clerk overrides that only with a reason, recorded with who and when."""

from decimal import Decimal

import pytest

from services.intake.rules.three_zero import load_three_zero_rules, workflow_type
from shared.vocab import CustomerType
from tests.intake.conftest import JINGYU_UNIT, application_body

SIMPLIFIED = ["signing", "construction_connection"]


def small_business(capacity_kw: str, **changes: object) -> dict[str, object]:
    """A low-voltage non-residential application as a clerk might enter it: not marked 三零."""
    return application_body(
        **{"customer_type": "low_voltage", "capacity_kw": capacity_kw, **changes}
    )


def jingyu(capacity_kw: str, **changes: object) -> dict[str, object]:
    site = {"address": "靖宇县靖宇镇某街 8 号", "area_class": "rural"}
    return small_business(
        capacity_kw, jurisdiction="jingyu", unit=JINGYU_UNIT, site=site, **changes
    )


async def accepted(client, body):
    response = await client.post("/applications", json=body)
    assert response.status_code == 201, response.text
    return response.json()["application"]


def stages_of(application):
    return [s["stage"] for s in application["stages"]]


class TestTheCeilingIsData:
    def test_the_ceiling_is_read_from_the_rules_file(self):
        ceiling = load_three_zero_rules().ceiling
        assert ceiling.limit_kw == Decimal(160)
        assert ceiling.source_for("dongying").endswith("三、（三）1；附件2第35项")
        assert ceiling.source_for("jingyu").endswith("三、（三）10")

    def test_the_workflow_follows_the_decision(self):
        assert workflow_type(CustomerType.low_voltage, True) is CustomerType.low_voltage_three_zero
        assert workflow_type(CustomerType.low_voltage_three_zero, False) is CustomerType.low_voltage
        assert workflow_type(CustomerType.residential, False) is CustomerType.residential
        assert workflow_type(CustomerType.hv10_single, True) is CustomerType.hv10_single


class TestDongying:
    async def test_a_100_kw_small_business_gets_three_zero_and_its_workflow(self, clerk, clock):
        clock.set("2025-11-04 10:00")
        application = await accepted(clerk, small_business("100"))
        three_zero = application["three_zero"]
        assert (three_zero["eligible"], three_zero["zero_investment"]) == (True, True)
        assert three_zero["policy_code"] == "dongying-2021-06"
        assert three_zero["capacity_limit_kw"] == "160.00"
        assert three_zero["declared_customer_type"] == "low_voltage"
        assert three_zero["override"] is None
        assert application["customer_type"] == "low_voltage_three_zero"
        assert stages_of(application) == SIMPLIFIED
        assert any("按“实行“三零”服务的低压非居民用户”的环节" in r for r in three_zero["reasons"])
        fees = (await clerk.get(f"/applications/{application['number']}/fees")).json()
        assert fees["zero_investment"] is True

    @pytest.mark.parametrize(
        ("capacity_kw", "eligible", "customer_type"),
        [
            ("160", True, "low_voltage_three_zero"),
            ("160.01", False, "low_voltage"),
            ("200", False, "low_voltage"),
        ],
    )
    async def test_both_sides_of_160_kw(self, clerk, clock, capacity_kw, eligible, customer_type):
        clock.set("2026-03-02 09:30")
        application = await accepted(clerk, small_business(capacity_kw))
        assert application["three_zero"]["eligible"] is eligible
        assert application["customer_type"] == customer_type
        assert (stages_of(application) == SIMPLIFIED) is eligible

    async def test_a_high_voltage_application_keeps_its_type(self, clerk, clock):
        clock.set("2026-03-02 09:30")
        application = await accepted(clerk, application_body(capacity_kw="100"))
        assert application["customer_type"] == "hv10_single"
        assert application["three_zero"]["eligible"] is False


class TestJingyu:
    @pytest.mark.parametrize(
        ("capacity_kw", "eligible", "customer_type"),
        [("150", True, "low_voltage_three_zero"), ("170", False, "low_voltage")],
    )
    async def test_160_kw_in_rural_areas_too_from_2022(
        self, other_clerk, clock, capacity_kw, eligible, customer_type
    ):
        clock.set("2025-12-15 14:00")
        application = await accepted(other_clerk, jingyu(capacity_kw))
        three_zero = application["three_zero"]
        assert (three_zero["eligible"], three_zero["policy_code"]) == (eligible, "jingyu-2022")
        assert application["customer_type"] == customer_type
        assert application["policy_code"].startswith("jingyu")
        assert (stages_of(application) == SIMPLIFIED) is eligible


class TestOverride:
    async def test_an_override_without_a_reason_is_refused_and_nothing_is_written(
        self, clerk, clock
    ):
        clock.set("2026-01-12 10:00")
        for override in ({"eligible": False}, {"eligible": False, "reason": "   "}):
            response = await clerk.post(
                "/applications", json=small_business("100", three_zero_override=override)
            )
            assert response.status_code == 422, response.text
            assert [(e["field"], e["code"]) for e in response.json()["errors"]] == [
                ("three_zero_override.reason", "three_zero_override_reason_required")
            ]
        assert (await clerk.get("/applications")).json()["total"] == 0

    async def test_an_override_with_a_reason_is_recorded_on_the_log_and_the_answer(
        self, clerk, clock
    ):
        clock.set("2026-01-12 10:00")
        reason = "用户为大型企业集团分支机构，不属于小微企业"
        application = await accepted(
            clerk,
            small_business("100", three_zero_override={"eligible": False, "reason": reason}),
        )
        number = application["number"]
        three_zero = application["three_zero"]
        assert (three_zero["eligible"], three_zero["zero_investment"]) == (False, False)
        assert three_zero["override"] == {
            "eligible_by_facts": True,
            "eligible": False,
            "reason": reason,
            "overridden_by": "clerk-wang",
            "overridden_at": "2026-01-12T10:00:00+08:00",
        }
        assert application["customer_type"] == "low_voltage"
        assert stages_of(application) != SIMPLIFIED
        assert reason in three_zero["reasons"][-1]
        log = (await clerk.get(f"/applications/{number}/log")).json()
        event = next(e for e in log if e["kind"] == "three_zero_overridden")
        assert (event["actor"], event["reason"], event["occurred_at"]) == (
            "clerk-wang",
            reason,
            "2026-01-12T10:00:00+08:00",
        )
        assert event["payload"]["eligible_by_facts"] is True
        assert event["payload"]["eligible"] is False
        assert event["payload"]["customer_type"] == "low_voltage"
        assert (await clerk.get(f"/applications/{number}/log/verify")).json()["valid"]
        read = (await clerk.get(f"/applications/{number}")).json()["three_zero"]
        assert read["override"] == three_zero["override"]

    async def test_an_override_into_three_zero_needs_low_voltage_and_the_ceiling(
        self, clerk, other_clerk, clock
    ):
        clock.set("2026-01-12 10:00")
        override = {"eligible": True, "reason": "县政府专项支持项目"}
        refused = [
            (clerk, application_body(capacity_kw="100", three_zero_override=override)),
            (clerk, small_business("200", three_zero_override=override)),
            (clerk, small_business("100", three_zero_override=override)),
        ]
        codes = []
        for client, body in refused:
            response = await client.post("/applications", json=body)
            assert response.status_code == 422, response.text
            codes.append(response.json()["errors"][0]["code"])
        assert codes == [
            "three_zero_override_not_low_voltage",
            "three_zero_over_160kw",
            "three_zero_override_not_needed",
        ]
        # A 三零-typed application the facts cover may be taken out too, with its reason.
        application = await accepted(
            other_clerk,
            jingyu(
                "90",
                customer_type="low_voltage_three_zero",
                three_zero_override={"eligible": False, "reason": "用户书面放弃低压接入"},
            ),
        )
        assert application["customer_type"] == "low_voltage"
        assert application["three_zero"]["declared_customer_type"] == "low_voltage_three_zero"
