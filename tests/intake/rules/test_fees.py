"""Fee items: banned names and their variants, listed prices with consent, and 三零."""

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from pydantic import ValidationError

from services.intake.rules.fees import (
    CustomerConsent,
    FeeItem,
    FeeRefused,
    FeeRules,
    MatchKind,
    banned_fee_match,
    check_fee_items,
    load_fee_rules,
    normalise_fee_name,
    utility_side_match,
)

JINGYU_BANNED = (
    "移表费、计量装置赔偿费、高压电缆介损试验费、高压电缆震荡波试验费、低压电缆试验费、"
    "低压计量检测费、互感器试验费、配电室试验费、开闭站集资费、调试费、保护定值整定计算费、"
    "带电作业费"
)
CONSENT = CustomerConsent(
    consented_at=datetime(2025, 3, 3, 2, 0, tzinfo=UTC), recorded_by="online", evidence="sig-1"
)


def refusals(items, *, zero_investment=False):
    with pytest.raises(FeeRefused) as caught:
        check_fee_items(items, zero_investment=zero_investment)
    assert caught.value.code == "fee_refused"
    assert caught.value.status == 422
    return [(e.field, e.code) for e in caught.value.errors]


# Keywords that are other words for a banned name (类似名目), each named in its reason.
SYNONYMS = {"迁表", "校验", "接火", "表计迁移", "移位", "检验", "开关站", "开闭所", "分摊"}


class TestFeeData:
    def test_banned_names_are_transcribed_exactly(self):
        rules = load_fee_rules()
        assert "、".join(rules.banned.names) == JINGYU_BANNED
        assert JINGYU_BANNED in rules.banned.rule
        assert rules.banned.rule.endswith("等类似名目费用。")

    def test_every_keyword_is_justified_and_hits_a_banned_name_or_its_synonym(self):
        rules = load_fee_rules()
        for keyword in rules.banned.keywords:
            assert keyword.reason
            assert (
                any(
                    normalise_fee_name(keyword.keyword) in normalise_fee_name(name)
                    for name in rules.banned.names
                )
                or keyword.keyword in SYNONYMS
            ), keyword.keyword

    def test_catalogue_has_listed_prices(self):
        catalogue = load_fee_rules().extended_services.catalogue
        assert catalogue
        assert all(s.price > 0 and s.unit and s.content for s in catalogue)

    def test_catalogue_listing_a_banned_fee_is_refused(self):
        raw = load_fee_rules().model_dump(mode="json")
        raw["extended_services"]["catalogue"][0]["name"] = "用户设备调试服务"
        with pytest.raises(ValidationError, match="banned fee"):
            FeeRules.model_validate(raw)


class TestBannedFeeMatch:
    @pytest.mark.parametrize("name", JINGYU_BANNED.split("、"))
    def test_each_banned_name(self, name):
        match = banned_fee_match(name)
        assert match is not None
        assert (match.kind, match.matched) == (MatchKind.name, name)

    @pytest.mark.parametrize(
        ("variant", "matched"),
        [
            ("移表费用", "移表费"),
            ("移 表 费", "移表费"),
            ("高压电缆振荡波试验费", "高压电缆震荡波试验费"),
            ("（高压电缆）介损试验费", "高压电缆介损试验费"),
            ("ＢＨ调试费", None),
        ],
    )
    def test_normalised_names(self, variant, matched):
        match = banned_fee_match(variant)
        assert match is not None
        if matched:
            assert (match.kind, match.matched) == (MatchKind.name, matched)

    @pytest.mark.parametrize(
        ("name", "keyword"),
        [
            ("电能表迁表费", "迁表"),
            ("表计损坏赔偿金", "赔偿"),
            ("电缆耐压试验费", "试验"),
            ("电能表校验费", "校验"),
            ("计量装置检测服务费", "检测"),
            ("配电工程集资款", "集资"),
            ("系统联合调试服务费", "调试"),
            ("继电保护整定服务费", "整定"),
            ("不停电带电作业服务费", "带电作业"),
        ],
    )
    def test_similar_names_by_keyword(self, name, keyword):
        match = banned_fee_match(name)
        assert match is not None
        assert (match.kind, match.matched) == (MatchKind.keyword, keyword)
        assert match.reason

    @pytest.mark.parametrize("name", ["受电工程代运行维护", "受电设施预装式租赁", "设计咨询费"])
    def test_ordinary_names_pass(self, name):
        assert banned_fee_match(name) is None

    def test_normalise(self):
        assert normalise_fee_name("高压电缆 振荡波试验费用") == "高压电缆震荡波试验费"
        assert normalise_fee_name("《调试 收费》") == "调试费"


class TestExtendedServices:
    def test_listed_price_with_consent_is_accepted(self):
        accepted = check_fee_items(
            [
                FeeItem(
                    name="受电工程代运行维护",
                    amount=Decimal("6000.00"),
                    consent=CONSENT,
                ),
                FeeItem(
                    name="箱变租赁",
                    service_code="receiving_equipment_lease",
                    amount=Decimal("5400"),
                    quantity=Decimal(3),
                    consent=CONSENT,
                ),
            ],
            zero_investment=False,
        )
        assert [(a.service_code, a.amount, a.unit_price) for a in accepted] == [
            ("receiving_works_maintenance", Decimal("6000.00"), Decimal("6000.00")),
            ("receiving_equipment_lease", Decimal("5400.00"), Decimal("1800.00")),
        ]
        assert accepted[1].name == "受电设施预装式租赁"
        assert accepted[0].recorded_by == "online"

    def test_no_fees_is_fine(self):
        assert check_fee_items([], zero_investment=True) == []

    def test_unlisted_service_is_refused(self):
        assert refusals([FeeItem(name="加急服务费", amount=Decimal(500), consent=CONSENT)]) == [
            ("fees[0]", "fee_not_listed")
        ]

    def test_unknown_code_is_refused(self):
        item = FeeItem(name="受电工程代运行维护", service_code="nope", amount=Decimal(6000))
        assert refusals([item]) == [("fees[0]", "fee_not_listed")]

    def test_price_other_than_listed_is_refused(self):
        with pytest.raises(FeeRefused) as caught:
            check_fee_items(
                [FeeItem(name="受电工程造价咨询", amount=Decimal("3500"), consent=CONSENT)],
                zero_investment=False,
            )
        error = caught.value.errors[0]
        assert error.code == "fee_price_mismatch"
        assert "3000.00元" in error.message

    def test_without_consent_is_refused(self):
        assert refusals([FeeItem(name="受电工程造价咨询", amount=Decimal(3000))]) == [
            ("fees[0]", "fee_consent_missing")
        ]

    def test_consent_needs_an_aware_time(self):
        with pytest.raises(ValidationError):
            CustomerConsent(consented_at=datetime(2025, 3, 3), recorded_by="online")

    def test_negative_amount_is_invalid(self):
        with pytest.raises(ValidationError):
            FeeItem(name="受电工程造价咨询", amount=Decimal(-1))


class TestBannedFeesRefused:
    def test_banned_name_and_variant_are_refused_with_every_item_listed(self):
        items = [
            FeeItem(name="受电工程造价咨询", amount=Decimal(3000), consent=CONSENT),
            FeeItem(name="带电作业费", amount=Decimal(800), consent=CONSENT),
            FeeItem(name="电缆振荡波检测", amount=Decimal(800), consent=CONSENT),
        ]
        assert refusals(items) == [("fees[1]", "fee_banned"), ("fees[2]", "fee_banned_similar")]

    def test_message_cites_the_plan(self):
        with pytest.raises(FeeRefused) as caught:
            check_fee_items([FeeItem(name="移表费", amount=Decimal(0))], zero_investment=False)
        assert "不得收取“移表费”" in caught.value.errors[0].message
        assert "等类似名目费用" in caught.value.errors[0].message

    def test_a_banned_name_is_refused_even_at_zero_yuan(self):
        assert refusals([FeeItem(name="调试费", amount=Decimal(0), consent=CONSENT)]) == [
            ("fees[0]", "fee_banned")
        ]


class TestZeroInvestment:
    def test_utility_side_flag_is_refused(self):
        item = FeeItem(
            name="受电工程代运行维护", amount=Decimal(6000), utility_side=True, consent=CONSENT
        )
        assert refusals([item], zero_investment=True) == [("fees[0]", "fee_zero_investment")]

    @pytest.mark.parametrize(
        "name", ["电能表购置费", "计量箱安装费", "接户线材料费", "配套电网工程费"]
    )
    def test_utility_side_names_are_refused(self, name):
        item = FeeItem(name=name, amount=Decimal(100), consent=CONSENT)
        assert refusals([item], zero_investment=True) == [("fees[0]", "fee_zero_investment")]

    def test_message_names_the_boundary(self):
        with pytest.raises(FeeRefused) as caught:
            check_fee_items([FeeItem(name="表箱费", amount=Decimal(300))], zero_investment=True)
        assert "投资至电能表" in caught.value.errors[0].message

    def test_listed_customer_side_service_is_still_allowed(self):
        accepted = check_fee_items(
            [FeeItem(name="受电工程造价咨询", amount=Decimal(3000), consent=CONSENT)],
            zero_investment=True,
        )
        assert [a.service_code for a in accepted] == ["receiving_works_cost_consulting"]

    def test_utility_side_match(self):
        assert utility_side_match("单相电能表") == "电能表"
        assert utility_side_match("受电工程造价咨询") is None
