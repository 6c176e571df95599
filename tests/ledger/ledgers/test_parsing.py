from datetime import date

import pytest

from services.ledger.ledgers.parsing import (
    DueKind,
    DueTextError,
    ResponsibilityRole,
    parse_due,
    parse_responsibilities,
)


class TestParseDue:
    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            ("2021年6月底前", date(2021, 6, 30)),
            ("2021 年 6 月底前", date(2021, 6, 30)),
            ("2021年6月15日前", date(2021, 6, 15)),
            ("2022年底前", date(2022, 12, 31)),
            ("2021年3月底前", date(2021, 3, 31)),
            ("2021年4月底前", date(2021, 4, 30)),
            ("2021年5月底前", date(2021, 5, 31)),
            ("2021年底前", date(2021, 12, 31)),
            ("2024年2月底前", date(2024, 2, 29)),
            ("2021 年 6 月底", date(2021, 6, 30)),
            ("2021-06-30", date(2021, 6, 30)),
            ("2021年底前；2022年底前", date(2022, 12, 31)),
            ("2021年、2022年底前", date(2022, 12, 31)),
            ("2022年底前（方案期末，原文未注明）", date(2022, 12, 31)),
        ],
    )
    def test_dates(self, text, expected):
        assert parse_due(text).kind is DueKind.date
        assert parse_due(text).on == expected

    @pytest.mark.parametrize("text", ["持续推进", " 持续推进 "])
    def test_ongoing(self, text):
        assert parse_due(text).kind is DueKind.ongoing
        assert parse_due(text).on is None

    @pytest.mark.parametrize(
        "text", ["已实现,持续巩固提升。", "已实现，持续巩固提升。", "已实现，持续巩固提升"]
    )
    def test_achieved(self, text):
        assert parse_due(text).kind is DueKind.achieved_consolidating

    @pytest.mark.parametrize(
        "text", ["", "尽快", "2021年13月底前", "2021年2月30日前", "2021年", "明年底前"]
    )
    def test_refuses_what_it_cannot_read(self, text):
        with pytest.raises(DueTextError):
            parse_due(text)


class TestParseResponsibilities:
    def test_single_unit_leads(self):
        (only,) = parse_responsibilities("各供电企业")
        assert (only.unit, only.role) == ("各供电企业", ResponsibilityRole.lead)

    def test_division_of_duties_alone_means_all_lead(self):
        roles = parse_responsibilities("各电力主管部门、其他相关政府部门、各供电企业按职责分工负责")
        assert [(r.unit, r.role) for r in roles] == [
            ("各电力主管部门", ResponsibilityRole.lead),
            ("其他相关政府部门", ResponsibilityRole.lead),
            ("各供电企业", ResponsibilityRole.lead),
        ]

    def test_lead_clause_makes_the_others_supporting(self):
        roles = parse_responsibilities("市发展改革委牵头，各供电企业按职责分工负责")
        assert [(r.unit, r.role) for r in roles] == [
            ("市发展改革委", ResponsibilityRole.lead),
            ("各供电企业", ResponsibilityRole.supporting),
        ]

    def test_typo_alias_is_folded(self):
        roles = parse_responsibilities(
            "各市电力主管部门、其他相关政府部门、各供电企业按职责分工负责"
        )
        assert roles[0].unit == "各电力主管部门"

    def test_empty_is_refused(self):
        with pytest.raises(ValueError, match="empty"):
            parse_responsibilities(" ， ")
