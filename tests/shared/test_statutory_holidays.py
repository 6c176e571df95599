"""Predicted statutory holidays for unpublished years, and the shipped years cross-checked
against a second source."""

from __future__ import annotations

from datetime import date, timedelta

import chinese_calendar
import holidays
import pytest

from shared.calendar import package_year_range
from shared.statutory_holidays import predicted_holidays


def _year(year: int) -> list[date]:
    first = date(year, 1, 1)
    return [first + timedelta(days=i) for i in range((date(year + 1, 1, 1) - first).days)]


class TestPrediction:
    def test_2027(self) -> None:
        assert sorted(predicted_holidays(2027)) == [
            date(2027, 1, 1),  # 元旦
            date(2027, 2, 5),  # 除夕
            date(2027, 2, 6),  # 春节 初一
            date(2027, 2, 7),
            date(2027, 2, 8),  # 初三
            date(2027, 4, 5),  # 清明 (the solar term)
            date(2027, 5, 1),  # 劳动节
            date(2027, 5, 2),
            date(2027, 6, 9),  # 端午 五月初五
            date(2027, 9, 15),  # 中秋 八月十五
            date(2027, 10, 1),  # 国庆
            date(2027, 10, 2),
            date(2027, 10, 3),
        ]

    def test_2028_mid_autumn_falls_in_national_day(self) -> None:
        predicted = predicted_holidays(2028)
        assert date(2028, 10, 3) in predicted  # 中秋 and 国庆 on one day: 12 distinct days
        assert len(predicted) == 12
        assert date(2028, 1, 25) in predicted  # 除夕

    @pytest.mark.parametrize("year", range(2014, package_year_range()[1] + 1))
    def test_every_predicted_day_was_off_in_the_published_arrangement(self, year: int) -> None:
        """Predicting a shipped year from the rules alone never calls a working day a holiday:
        the prediction is a floor of what the State Council publishes."""
        worked = sorted(d for d in predicted_holidays(year) if chinese_calendar.is_workday(d))
        assert worked == [], f"{year}: predicted off but officially worked: {worked}"

    def test_the_revised_rules_from_2025(self) -> None:
        assert date(2024, 5, 2) not in predicted_holidays(2024)
        assert date(2024, 2, 9) not in predicted_holidays(2024)  # 除夕 2024
        assert date(2025, 5, 2) in predicted_holidays(2025)
        assert date(2025, 1, 28) in predicted_holidays(2025)  # 除夕 2025


@pytest.mark.parametrize("year", range(2010, package_year_range()[1] + 1))
def test_shipped_years_agree_with_a_second_source(year: int) -> None:
    """chinesecalendar (what the clock uses) against python-holidays' China calendar, which
    also knows the make-up working days: every date where they disagree is named."""
    second = holidays.China(years=year)
    disagree = [
        f"{d.isoformat()}: chinesecalendar {'works' if chinese_calendar.is_workday(d) else 'off'}"
        f", holidays {'works' if second.is_working_day(d) else 'off'}"
        for d in _year(year)
        if chinese_calendar.is_workday(d) != second.is_working_day(d)
    ]
    assert disagree == []
