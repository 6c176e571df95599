"""三零 eligibility by jurisdiction and date, and the whitelist."""

from datetime import date
from decimal import Decimal

import pytest
from pydantic import ValidationError

from services.intake.rules.terms import VoltageClass
from services.intake.rules.three_zero import (
    Area,
    CustomerCategory,
    ThreeZeroPolicy,
    ThreeZeroRequest,
    ThreeZeroRules,
    assess_three_zero,
    load_three_zero_rules,
    policy_in_force,
)
from shared.errors import Unprocessable
from shared.vocab import CustomerType

SMALL = CustomerCategory.small_micro_enterprise


def request(category=SMALL, kw="160", area=Area.urban, **extra):
    return ThreeZeroRequest(category=category, capacity_kw=Decimal(kw), area=area, **extra)


class TestPolicyData:
    def test_versions(self):
        policies = load_three_zero_rules().policies
        assert [(p.code, p.jurisdiction, p.effective_from) for p in policies] == [
            ("dongying-2021-06", "dongying", date(2021, 1, 1)),
            ("jingyu-2021", "jingyu", date(2021, 1, 1)),
            ("jingyu-2022", "jingyu", date(2022, 1, 1)),
        ]

    def test_limits_transcribed_from_the_plans(self):
        by_code = {p.code: p for p in load_three_zero_rules().policies}
        assert by_code["dongying-2021-06"].limits_kw[SMALL] == {
            Area.urban: Decimal(160),
            Area.rural: Decimal(160),
        }
        assert by_code["jingyu-2021"].limits_kw[SMALL] == {
            Area.urban: Decimal(160),
            Area.rural: Decimal(100),
        }
        assert "农村地区100KW及以下" in by_code["jingyu-2021"].rule
        assert by_code["jingyu-2022"].limits_kw[SMALL][Area.rural] == Decimal(160)

    def test_whitelist_rule_quotes_the_plan(self):
        assert load_three_zero_rules().whitelist.rule.startswith(
            "对未纳入电网规划区域偶发性用电项目和接入容量超出可开放范围的小微企业用电项目"
        )

    def test_a_limit_for_other_customers_is_refused(self):
        raw = load_three_zero_rules().policies[0].model_dump(mode="json")
        raw["limits_kw"]["other"] = {"urban": "160", "rural": "160"}
        with pytest.raises(ValidationError, match="small/micro"):
            ThreeZeroPolicy.model_validate(raw)

    def test_two_versions_on_one_day_are_refused(self):
        raw = load_three_zero_rules().model_dump(mode="json")
        raw["policies"][2]["effective_from"] = raw["policies"][1]["effective_from"]
        with pytest.raises(ValidationError, match="same day"):
            ThreeZeroRules.model_validate(raw)


class TestPolicyInForce:
    @pytest.mark.parametrize(
        ("jurisdiction", "on", "code"),
        [
            ("dongying", date(2021, 1, 1), "dongying-2021-06"),
            ("dongying", date(2026, 1, 5), "dongying-2021-06"),
            ("jingyu", date(2021, 1, 1), "jingyu-2021"),
            ("jingyu", date(2021, 6, 1), "jingyu-2021"),
            ("jingyu", date(2021, 12, 31), "jingyu-2021"),
            ("jingyu", date(2022, 1, 1), "jingyu-2022"),
        ],
    )
    def test_version_by_date(self, jurisdiction, on, code):
        assert policy_in_force(jurisdiction, on).code == code

    @pytest.mark.parametrize(
        ("jurisdiction", "on"),
        [
            ("dongying", date(2020, 12, 31)),
            ("jingyu", date(2020, 12, 31)),
            ("beijing", date(2025, 1, 1)),
        ],
    )
    def test_none_in_force(self, jurisdiction, on):
        with pytest.raises(Unprocessable) as caught:
            policy_in_force(jurisdiction, on)
        assert caught.value.code == "three_zero_policy_not_in_force"

    def test_read_like_the_time_limits(self):
        """A 2021 target is 2021's standard from 1 January, as jingyu-2021's time limits are."""
        from services.intake.policies.service import reference_versions

        jingyu_2021 = next(v for v in reference_versions() if v.code == "jingyu-2021")
        assert (
            jingyu_2021.effective_from == policy_in_force("jingyu", date(2021, 6, 1)).effective_from
        )

    def test_own_policy_list(self):
        custom = (
            load_three_zero_rules()
            .policies[0]
            .model_copy(update={"code": "county-2025", "jurisdiction": "county"})
        )
        assert policy_in_force("county", date(2025, 1, 1), [custom]).code == "county-2025"


class TestAssessThreeZero:
    def test_small_enterprise_at_160_kw_is_eligible(self):
        decision = assess_three_zero(
            request(kw="160"), jurisdiction="dongying", on=date(2025, 5, 6)
        )
        assert decision.eligible is True
        assert decision.zero_investment is True
        assert decision.connection_voltage is VoltageClass.low
        assert decision.customer_type is CustomerType.low_voltage_three_zero
        assert decision.capacity_limit_kw == Decimal(160)
        assert decision.whitelist is False
        assert "投资至电能表" in decision.investment_boundary
        assert decision.reasons[0].startswith("报装容量160千瓦不超过城市地区上限160千瓦")

    def test_residential_is_residential(self):
        decision = assess_three_zero(
            request(CustomerCategory.residential, kw="8"),
            jurisdiction="dongying",
            on=date(2025, 5, 6),
        )
        assert decision.eligible is True
        assert decision.customer_type is CustomerType.residential

    def test_over_the_limit_is_not_eligible(self):
        decision = assess_three_zero(
            request(kw="160.5"), jurisdiction="dongying", on=date(2025, 5, 6)
        )
        assert decision.eligible is False
        assert decision.zero_investment is False
        assert decision.connection_voltage is None
        assert decision.customer_type is None
        assert "超过城市地区“三零”服务上限160千瓦" in decision.reasons[0]

    def test_other_customers_are_not_covered(self):
        decision = assess_three_zero(
            request(CustomerCategory.other, kw="50"), jurisdiction="dongying", on=date(2025, 5, 6)
        )
        assert decision.eligible is False
        assert decision.capacity_limit_kw is None
        assert "不在适用范围内" in decision.reasons[0]

    def test_jingyu_rural_100_kw_in_2021(self):
        on = date(2021, 6, 1)
        rural_120 = request(kw="120", area=Area.rural)
        assert assess_three_zero(rural_120, jurisdiction="jingyu", on=on).eligible is False
        rural_100 = request(kw="100", area=Area.rural)
        assert assess_three_zero(rural_100, jurisdiction="jingyu", on=on).eligible is True
        urban_120 = request(kw="120", area=Area.urban)
        assert assess_three_zero(urban_120, jurisdiction="jingyu", on=on).eligible is True

    def test_jingyu_rural_160_kw_in_2022(self):
        decision = assess_three_zero(
            request(kw="120", area=Area.rural), jurisdiction="jingyu", on=date(2022, 3, 1)
        )
        assert decision.eligible is True
        assert decision.policy_code == "jingyu-2022"

    def test_dongying_has_no_rural_variant(self):
        decision = assess_three_zero(
            request(kw="120", area=Area.rural), jurisdiction="dongying", on=date(2022, 6, 1)
        )
        assert decision.eligible is True

    def test_capacity_limited_area_goes_on_the_whitelist(self):
        decision = assess_three_zero(
            request(kw="60", capacity_limited=True), jurisdiction="dongying", on=date(2025, 5, 6)
        )
        assert decision.eligible is True
        assert decision.whitelist is True
        assert decision.reasons[1].startswith("接入容量超出可开放范围，纳入“白名单”备案")

    def test_area_outside_the_grid_plan_goes_on_the_whitelist(self):
        decision = assess_three_zero(
            request(kw="60", in_grid_plan=False), jurisdiction="dongying", on=date(2025, 5, 6)
        )
        assert decision.whitelist is True
        assert "未纳入电网规划区域" in decision.reasons[1]

    def test_ineligible_application_is_not_whitelisted(self):
        decision = assess_three_zero(
            request(kw="400", capacity_limited=True), jurisdiction="dongying", on=date(2025, 5, 6)
        )
        assert (decision.eligible, decision.whitelist) == (False, False)

    @pytest.mark.parametrize("kw", ["0", "-1"])
    def test_capacity_must_be_positive(self, kw):
        with pytest.raises(ValidationError):
            request(kw=kw)
