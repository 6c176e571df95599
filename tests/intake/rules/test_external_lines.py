"""External-line works: the approval decision and the 3-month push duty."""

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from pydantic import ValidationError

from services.intake.rules.external_lines import (
    ApprovalProcedure,
    Crossing,
    ExternalLinePolicy,
    ExternalLineWorks,
    PushState,
    add_calendar_months,
    decide_external_line_approval,
    load_external_line_policy,
    push_due_date,
    push_status,
)
from services.intake.rules.terms import VoltageClass
from shared.calendar import WorkingCalendar

LOW, HIGH = VoltageClass.low, VoltageClass.high
MAJOR = [
    Crossing.urban_expressway,
    Crossing.urban_trunk_road,
    Crossing.highway,
    Crossing.highway_land,
    Crossing.highway_rerouting,
]
MINOR = [Crossing.other_urban_road, Crossing.urban_green_land, Crossing.trees]


def decide(length, voltage, *crossings):
    works = ExternalLineWorks(
        length_m=Decimal(str(length)), voltage=voltage, crossings=frozenset(crossings)
    )
    return decide_external_line_approval(works)


@pytest.fixture(scope="module")
def working_calendar():
    return WorkingCalendar.build(last_year=2028)


class TestPolicyData:
    def test_rules_quote_the_plan(self):
        policy = load_external_line_policy()
        texts = {r.code: r.text for r in policy.rules}
        assert texts["major_road_or_highway"] == (
            "涉及挖掘、占用城市快速路、主干道以及公路、公路用地或使公路改线的仍按原程序审批。"
        )
        assert texts["other_road_green_land_or_trees"] == (
            "涉及城市其他道路挖掘、占用城市绿地、树木审批的（不含城市古树名木），实行告知承诺制办理。"
        )
        assert policy.short_line_max_m == 500
        assert policy.completion_push.months == 3
        assert policy.procedures[ApprovalProcedure.commitment_filing] == "告知承诺备案制"

    def test_rules_are_ordered_strictest_first(self):
        order = list(ApprovalProcedure)
        ranks = [order.index(r.procedure) for r in load_external_line_policy().rules]
        assert ranks == sorted(ranks, reverse=True)

    def test_incomplete_policy_is_refused(self):
        raw = load_external_line_policy().model_dump(mode="json")
        raw["rules"] = [r for r in raw["rules"] if r["code"] != "long_line"]
        with pytest.raises(ValidationError, match="long_line"):
            ExternalLinePolicy.model_validate(raw)


class TestShortLines:
    @pytest.mark.parametrize("length", [1, 120, "499.9", 500])
    def test_low_voltage_needs_no_approval(self, length):
        decision = decide(length, LOW)
        assert decision.procedure is ApprovalProcedure.exempt
        assert decision.procedure_name == "免审批"
        assert decision.rule.code == "short_low_voltage"

    @pytest.mark.parametrize("length", [1, 500])
    def test_high_voltage_is_filed_on_commitment(self, length):
        decision = decide(length, HIGH)
        assert decision.procedure is ApprovalProcedure.commitment_filing
        assert decision.rule.code == "short_high_voltage"

    def test_explanation_cites_the_plan(self):
        decision = decide(300, HIGH)
        assert decision.explanation.startswith("管线长度300米，高压：告知承诺备案制。依据《东营市")
        assert "附件2第17项" in decision.explanation


class TestLongLines:
    @pytest.mark.parametrize("voltage", [LOW, HIGH])
    def test_over_500_m_is_full_approval(self, voltage):
        decision = decide("500.1", voltage)
        assert decision.procedure is ApprovalProcedure.full_approval
        assert decision.rule.code == "long_line"

    def test_long_line_on_side_streets_still_needs_full_approval(self):
        decision = decide(1200, HIGH, Crossing.other_urban_road)
        assert decision.procedure is ApprovalProcedure.full_approval
        assert [r.code for r in decision.applicable] == [
            "long_line",
            "other_road_green_land_or_trees",
        ]


class TestCrossings:
    @pytest.mark.parametrize("crossing", MAJOR)
    @pytest.mark.parametrize(("length", "voltage"), [(50, LOW), (50, HIGH), (2000, LOW)])
    def test_major_roads_and_highways_keep_full_approval_whatever_the_length(
        self, crossing, length, voltage
    ):
        decision = decide(length, voltage, crossing)
        assert decision.procedure is ApprovalProcedure.full_approval
        assert decision.rule.code == "major_road_or_highway"
        assert "仍按原程序审批" in decision.explanation

    @pytest.mark.parametrize("crossing", MINOR)
    @pytest.mark.parametrize("voltage", [LOW, HIGH])
    def test_other_roads_green_land_and_trees_are_commitment(self, crossing, voltage):
        decision = decide(400, voltage, crossing)
        assert decision.procedure is ApprovalProcedure.commitment
        assert decision.procedure_name == "告知承诺制"
        assert decision.rule.code == "other_road_green_land_or_trees"
        short = "short_low_voltage" if voltage is LOW else "short_high_voltage"
        assert [r.code for r in decision.applicable] == [decision.rule.code, short]

    def test_ancient_trees_are_not_commitment(self):
        decision = decide(100, LOW, Crossing.trees, Crossing.ancient_or_famous_trees)
        assert decision.procedure is ApprovalProcedure.full_approval
        assert decision.rule.code == "ancient_or_famous_trees"

    def test_strictest_wins_and_all_are_listed(self):
        decision = decide(
            80, HIGH, Crossing.urban_green_land, Crossing.highway_land, Crossing.trees
        )
        assert decision.procedure is ApprovalProcedure.full_approval
        assert [r.code for r in decision.applicable] == [
            "major_road_or_highway",
            "other_road_green_land_or_trees",
            "short_high_voltage",
        ]
        assert "涉及公路用地、城市绿地、树木（不含古树名木）" in decision.explanation


class TestWorksValidation:
    @pytest.mark.parametrize("length", ["0", "-5"])
    def test_length_must_be_positive(self, length):
        with pytest.raises(ValidationError):
            ExternalLineWorks(length_m=Decimal(length), voltage=LOW)

    def test_unknown_crossing(self):
        with pytest.raises(ValidationError):
            ExternalLineWorks.model_validate(
                {"length_m": "10", "voltage": "low", "crossings": ["river"]}
            )


class TestCalendarMonths:
    @pytest.mark.parametrize(
        ("start", "months", "end"),
        [
            (date(2025, 1, 15), 3, date(2025, 4, 15)),
            (date(2025, 11, 30), 3, date(2026, 2, 28)),
            (date(2023, 11, 30), 3, date(2024, 2, 29)),
            (date(2025, 10, 31), 3, date(2026, 1, 31)),
            (date(2025, 12, 31), 14, date(2027, 2, 28)),
        ],
    )
    def test_add(self, start, months, end):
        assert add_calendar_months(start, months) == end


class TestPushDueDate:
    def test_three_calendar_months(self):
        assert push_due_date(date(2025, 3, 12)) == date(2025, 6, 12)

    def test_a_moment_counts_as_its_beijing_date(self):
        # 2025-03-31 17:00 UTC is 1 April 01:00 in Beijing.
        assert push_due_date(datetime(2025, 3, 31, 17, 0, tzinfo=UTC)) == date(2025, 7, 1)
        assert push_due_date(datetime(2025, 3, 31, 15, 0, tzinfo=UTC)) == date(2025, 6, 30)

    def test_naive_moment_is_refused(self):
        with pytest.raises(ValueError, match="naive"):
            push_due_date(datetime(2025, 3, 31, 15, 0))

    def test_national_day_moves_the_last_day(self, working_calendar):
        # Due 5 October 2025, inside the 1–8 October holiday: the next working day is the 9th.
        assert push_due_date(date(2025, 7, 5)) == date(2025, 10, 5)
        assert push_due_date(date(2025, 7, 5), working_calendar=working_calendar) == date(
            2025, 10, 9
        )

    def test_spring_festival_2026_moves_the_last_day(self, working_calendar):
        # Due Monday 16 February 2026, in the 15–23 February holiday.
        assert push_due_date(date(2025, 11, 16), working_calendar=working_calendar) == date(
            2026, 2, 24
        )

    def test_a_working_day_stays(self, working_calendar):
        assert push_due_date(date(2025, 6, 10), working_calendar=working_calendar) == date(
            2025, 9, 10
        )


class TestPushStatus:
    def test_pending_until_the_last_day(self):
        status = push_status(date(2025, 3, 12), today=date(2025, 6, 12))
        assert (status.state, status.overdue, status.days_overdue) == (
            PushState.pending,
            False,
            0,
        )
        assert status.due_on == date(2025, 6, 12)
        assert "3个月内" in status.rule

    def test_overdue_the_day_after(self):
        status = push_status(date(2025, 3, 12), today=date(2025, 6, 13))
        assert (status.state, status.overdue, status.days_overdue) == (
            PushState.overdue,
            True,
            1,
        )

    def test_pushed_in_time(self):
        status = push_status(date(2025, 3, 12), pushed=date(2025, 6, 12), today=date(2025, 12, 1))
        assert (status.state, status.overdue, status.days_overdue) == (PushState.pushed, False, 0)

    def test_pushed_late(self):
        status = push_status(
            date(2025, 3, 12),
            pushed=datetime(2025, 6, 20, 2, 0, tzinfo=UTC),
            today=date(2025, 12, 1),
        )
        assert status.pushed_on == date(2025, 6, 20)
        assert (status.state, status.overdue, status.days_overdue) == (
            PushState.pushed_late,
            False,
            8,
        )

    def test_holiday_extension_applies_to_the_status(self, working_calendar):
        status = push_status(
            date(2025, 7, 5), today=date(2025, 10, 8), working_calendar=working_calendar
        )
        assert status.state is PushState.pending
        later = push_status(
            date(2025, 7, 5), today=date(2025, 10, 10), working_calendar=working_calendar
        )
        assert (later.state, later.days_overdue) == (PushState.overdue, 1)
