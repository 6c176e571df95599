"""Tests of the working-day calendar (工作日) against real official arrangements."""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime, timedelta, timezone

import chinese_calendar  # type: ignore[import-untyped, unused-ignore]
import pytest

from shared.calendar import (
    CalendarDataError,
    Deadline,
    WorkingCalendar,
    WorkingDayCount,
    YearArrangement,
    beijing_date,
    package_source,
    package_year_range,
)

D = date

# TEST FIXTURE — synthetic, NOT the official 2027 arrangement. It only exercises loading a year
# the package does not know: New Year's Day off, a Spring-Festival-like block, and one make-up
# Saturday (调休上班).
SYNTHETIC_2027 = YearArrangement(
    year=2027,
    holidays=frozenset({D(2027, 1, 1)} | {D(2027, 2, 6) + timedelta(days=k) for k in range(9)}),
    makeup_workdays=frozenset({D(2027, 2, 20)}),
    source="test fixture (synthetic, not official)",
)


def _days(first: date, last: date) -> list[date]:
    return [first + timedelta(days=k) for k in range((last - first).days + 1)]


@pytest.fixture(scope="module")
def cal() -> WorkingCalendar:
    return WorkingCalendar.build(first_year=2004, last_year=2028)


@pytest.fixture
def unknown_2027(cal: WorkingCalendar) -> WorkingCalendar:
    if cal.is_confirmed(2027):
        pytest.skip(
            "installed chinesecalendar already knows 2027; move these tests to a later year"
        )
    return cal


# --- package data -------------------------------------------------------------------------------


def test_agrees_with_chinese_calendar_on_every_known_day(cal: WorkingCalendar) -> None:
    first, last = package_year_range()
    for d in _days(D(first, 1, 1), D(last, 12, 31)):
        assert cal.is_workday(d) == chinese_calendar.is_workday(d), d


def test_package_range_is_what_the_package_accepts() -> None:
    first, last = package_year_range()
    chinese_calendar.is_workday(D(first, 1, 1))
    chinese_calendar.is_workday(D(last, 12, 31))
    with pytest.raises(NotImplementedError):
        chinese_calendar.is_workday(D(last + 1, 1, 1))


def test_confirmed_years_and_sources(cal: WorkingCalendar) -> None:
    first, last = package_year_range()
    assert cal.confirmed_years() == tuple(range(first, last + 1))
    assert cal.is_confirmed(2025)
    assert cal.source_of(2025) == package_source()
    assert package_source() == f"chinesecalendar {chinese_calendar.__version__}"
    assert cal.source_of(first - 1) is None
    assert not cal.is_confirmed(first - 1)


# --- real arrangements ----------------------------------------------------------------------------


class TestNationalDay2025:
    """National Day + Mid-Autumn 2025: 10-01..10-08 off; Sun 09-28 and Sat 10-11 worked."""

    def test_days(self, cal: WorkingCalendar) -> None:
        assert not any(cal.is_workday(d) for d in _days(D(2025, 10, 1), D(2025, 10, 8)))
        assert cal.is_workday(D(2025, 9, 28))
        assert cal.is_workday(D(2025, 10, 11))
        assert not cal.is_workday(D(2025, 10, 12))

    @pytest.mark.parametrize(
        ("start", "n", "due"),
        [
            (D(2025, 9, 26), 1, D(2025, 9, 28)),  # Friday -> make-up Sunday
            (D(2025, 9, 30), 1, D(2025, 10, 9)),  # skips the whole holiday
            (D(2025, 10, 3), 1, D(2025, 10, 9)),  # accepted during the holiday
            (D(2025, 10, 9), 2, D(2025, 10, 11)),  # Thursday +2 -> make-up Saturday
            (D(2025, 9, 26), 6, D(2025, 10, 11)),
        ],
    )
    def test_deadlines(self, cal: WorkingCalendar, start: date, n: int, due: date) -> None:
        assert cal.add_working_days(start, n) == Deadline(due, provisional=False)

    def test_elapsed(self, cal: WorkingCalendar) -> None:
        assert cal.working_days_between(D(2025, 9, 30), D(2025, 10, 8)).days == 0
        assert cal.working_days_between(D(2025, 9, 26), D(2025, 10, 12)) == WorkingDayCount(
            6, False
        )


class TestSpringFestival2025:
    """Spring Festival 2025: 01-28..02-04 off; Sun 01-26 and Sat 02-08 worked."""

    def test_days(self, cal: WorkingCalendar) -> None:
        assert not any(cal.is_workday(d) for d in _days(D(2025, 1, 28), D(2025, 2, 4)))
        assert cal.is_workday(D(2025, 1, 26))
        assert cal.is_workday(D(2025, 2, 8))

    @pytest.mark.parametrize(
        ("start", "n", "due"),
        [
            (D(2025, 1, 24), 1, D(2025, 1, 26)),
            (D(2025, 1, 27), 1, D(2025, 2, 5)),
            (D(2025, 2, 7), 1, D(2025, 2, 8)),
            (D(2025, 1, 24), 5, D(2025, 2, 7)),  # 01-26, 01-27, 02-05, 02-06, 02-07
        ],
    )
    def test_deadlines(self, cal: WorkingCalendar, start: date, n: int, due: date) -> None:
        assert cal.add_working_days(start, n).due == due


class TestSpringFestival2026:
    """Spring Festival 2026 per chinesecalendar: 02-15..02-23 off; Sat 02-14 and 02-28 worked."""

    def test_days(self, cal: WorkingCalendar) -> None:
        assert not any(cal.is_workday(d) for d in _days(D(2026, 2, 15), D(2026, 2, 23)))
        assert cal.is_workday(D(2026, 2, 14))
        assert cal.is_workday(D(2026, 2, 28))
        assert cal.is_workday(D(2026, 2, 24))

    @pytest.mark.parametrize(
        ("start", "n", "due"),
        [
            (D(2026, 2, 13), 1, D(2026, 2, 14)),
            (D(2026, 2, 14), 1, D(2026, 2, 24)),
            (D(2026, 2, 27), 1, D(2026, 2, 28)),
        ],
    )
    def test_deadlines(self, cal: WorkingCalendar, start: date, n: int, due: date) -> None:
        assert cal.add_working_days(start, n) == Deadline(due, provisional=False)


class TestNationalDay2026:
    """Per chinesecalendar: Mid-Autumn 09-25..09-27 and National Day 10-01..10-07 off;
    Sun 09-20 and Sat 10-10 worked."""

    def test_days(self, cal: WorkingCalendar) -> None:
        assert not any(cal.is_workday(d) for d in _days(D(2026, 10, 1), D(2026, 10, 7)))
        assert not cal.is_workday(D(2026, 9, 25))
        assert cal.is_workday(D(2026, 9, 20))
        assert cal.is_workday(D(2026, 10, 10))

    @pytest.mark.parametrize(
        ("start", "n", "due"),
        [
            (D(2026, 9, 18), 1, D(2026, 9, 20)),
            (D(2026, 9, 24), 1, D(2026, 9, 28)),
            (D(2026, 9, 30), 1, D(2026, 10, 8)),
            (D(2026, 9, 30), 3, D(2026, 10, 10)),
        ],
    )
    def test_deadlines(self, cal: WorkingCalendar, start: date, n: int, due: date) -> None:
        assert cal.add_working_days(start, n) == Deadline(due, provisional=False)


# --- add_working_days semantics ---------------------------------------------------------------


def test_friday_plus_one_is_monday(cal: WorkingCalendar) -> None:
    assert cal.add_working_days(D(2025, 3, 7), 1).due == D(2025, 3, 10)
    assert cal.add_working_days(D(2025, 3, 8), 1).due == D(2025, 3, 10)  # accepted on Saturday


def test_friday_plus_one_skips_a_monday_holiday(cal: WorkingCalendar) -> None:
    # Dragon Boat Festival 2025: Monday 06-02 off.
    assert cal.add_working_days(D(2025, 5, 30), 1).due == D(2025, 6, 3)


def test_zero_days_is_the_start_even_on_a_holiday(cal: WorkingCalendar) -> None:
    assert cal.add_working_days(D(2025, 10, 1), 0) == Deadline(D(2025, 10, 1), False)


def test_negative_days_rejected(cal: WorkingCalendar) -> None:
    with pytest.raises(ValueError, match="n must be >= 0"):
        cal.add_working_days(D(2025, 1, 2), -1)


def test_elapsed_is_zero_when_end_not_after_start(cal: WorkingCalendar) -> None:
    assert cal.working_days_between(D(2025, 3, 7), D(2025, 3, 7)) == WorkingDayCount(0, False)
    assert cal.working_days_between(D(2025, 3, 7), D(2025, 3, 1)) == WorkingDayCount(0, False)


def test_next_workday(cal: WorkingCalendar) -> None:
    assert cal.next_workday(D(2025, 10, 1)) == D(2025, 10, 9)
    assert cal.next_workday(D(2025, 10, 9)) == D(2025, 10, 9)
    assert cal.next_workday(D(2025, 10, 11)) == D(2025, 10, 11)  # make-up Saturday
    assert cal.next_workday(D(2025, 10, 12)) == D(2025, 10, 13)


def test_working_days_before(cal: WorkingCalendar) -> None:
    # Due the Friday after National Day 2026; 09-25 (Mid-Autumn) and 10-01..10-07 are off.
    due = D(2026, 10, 9)
    assert cal.working_days_before(due, 0) == due
    assert cal.working_days_before(due, 1) == D(2026, 10, 8)
    assert cal.working_days_before(due, 2) == D(2026, 9, 30)
    assert cal.working_days_before(due, 7) == D(2026, 9, 22)
    assert cal.working_days_before(D(2025, 10, 12), 1) == D(2025, 10, 11)  # make-up Saturday
    with pytest.raises(ValueError, match=">= 0"):
        cal.working_days_before(due, -1)


def test_working_days_before_matches_the_package_day_by_day(cal: WorkingCalendar) -> None:
    horizon = _days(D(2025, 1, 1), D(2026, 12, 31))
    working = [d for d in horizon if chinese_calendar.is_workday(d)]
    for d in _days(D(2025, 3, 1), D(2026, 12, 31)):
        before = [w for w in working if w < d]
        for n in (1, 5, 7, 20):
            assert cal.working_days_before(d, n) == before[-n], (d, n)


def test_matches_day_by_day_reference_and_round_trips(cal: WorkingCalendar) -> None:
    # Reference: walk day by day with the package's own is_workday.
    horizon = _days(D(2025, 1, 1), D(2026, 12, 31))
    working = {d for d in horizon if chinese_calendar.is_workday(d)}
    for start in _days(D(2025, 1, 1), D(2026, 9, 30)):
        following = [d for d in horizon if d > start and d in working]
        for n in range(41):
            deadline = cal.add_working_days(start, n)
            assert deadline.due == (following[n - 1] if n else start), (start, n)
            assert not deadline.provisional
            assert cal.working_days_between(start, deadline.due).days == n


def test_round_trip_across_an_unconfirmed_year(cal: WorkingCalendar) -> None:
    for start in _days(D(2026, 6, 1), D(2027, 6, 30)):
        for n in range(41):
            deadline = cal.add_working_days(start, n)
            count = cal.working_days_between(start, deadline.due)
            assert count == WorkingDayCount(n, deadline.provisional), (start, n)
            if n:
                assert cal.is_workday(deadline.due)
                assert cal.add_working_days(start, n - 1).due < deadline.due


# --- unconfirmed years ----------------------------------------------------------------------------


class TestUnconfirmed2027:
    def test_statutory_holidays_predicted_and_provisional(
        self, unknown_2027: WorkingCalendar
    ) -> None:
        cal = unknown_2027
        assert cal.source_of(2027) is None
        # 2027-01-01 (a Friday) is New Year's Day whatever the State Council will publish.
        assert not cal.is_workday(D(2027, 1, 1))
        assert cal.is_workday(D(2027, 1, 4))
        assert cal.add_working_days(D(2026, 12, 30), 1) == Deadline(D(2026, 12, 31), False)
        assert cal.add_working_days(D(2026, 12, 31), 1) == Deadline(D(2027, 1, 4), True)
        assert cal.add_working_days(D(2026, 12, 30), 5) == Deadline(D(2027, 1, 7), True)
        assert cal.working_days_between(D(2026, 12, 30), D(2027, 1, 7)) == WorkingDayCount(5, True)
        assert not cal.working_days_between(D(2026, 12, 1), D(2026, 12, 31)).provisional
        # The lunar ones: 除夕 to 初三 (02-05..02-08), 端午 06-09, 中秋 09-15; and National Day.
        days_off = (D(2027, 2, 5), D(2027, 2, 8), D(2027, 6, 9), D(2027, 9, 15), D(2027, 10, 1))
        for day_off in days_off:
            assert not cal.is_workday(day_off), day_off
        assert cal.is_workday(D(2027, 2, 9))  # no bridging days are guessed

    def test_loaded_arrangement_confirms_the_year(self, unknown_2027: WorkingCalendar) -> None:
        loaded = unknown_2027.with_arrangement(SYNTHETIC_2027)
        assert loaded.is_confirmed(2027)
        assert 2027 in loaded.confirmed_years()
        assert loaded.source_of(2027) == SYNTHETIC_2027.source
        assert loaded.arrangements == (SYNTHETIC_2027,)
        assert loaded.add_working_days(D(2026, 12, 30), 5) == Deadline(D(2027, 1, 7), False)
        assert loaded.add_working_days(D(2027, 2, 5), 1) == Deadline(D(2027, 2, 15), False)
        assert loaded.add_working_days(D(2027, 2, 19), 1) == Deadline(D(2027, 2, 20), False)
        # 2028 is still unknown.
        assert loaded.add_working_days(D(2027, 12, 31), 1) == Deadline(D(2028, 1, 3), True)
        # The original calendar is untouched.
        assert not unknown_2027.is_confirmed(2027)
        assert unknown_2027.add_working_days(D(2026, 12, 30), 5).due == D(2027, 1, 7)


def test_year_before_the_package_is_unconfirmed() -> None:
    first = package_year_range()[0]
    cal = WorkingCalendar.build(first_year=first - 1, last_year=first)
    assert cal.add_working_days(D(first - 1, 12, 30), 1).provisional
    assert not cal.add_working_days(D(first - 1, 12, 31), 1).provisional


def test_loaded_arrangement_overrides_the_package(cal: WorkingCalendar) -> None:
    fixture = YearArrangement(  # test fixture, not official data
        2025, frozenset({D(2025, 3, 7)}), frozenset({D(2025, 10, 11)}), "test fixture"
    )
    loaded = cal.with_arrangement(fixture)
    assert loaded.source_of(2025) == "test fixture"
    assert not loaded.is_workday(D(2025, 3, 7))
    assert loaded.is_workday(D(2025, 10, 1))  # the package's holiday no longer applies
    assert not loaded.is_workday(D(2025, 9, 28))
    assert (
        loaded.with_arrangement(dataclasses.replace(fixture, source="v2")).source_of(2025) == "v2"
    )


# --- YearArrangement validation -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("holidays", "makeups", "message"),
    [
        ({D(2026, 12, 31)}, set(), "dates outside 2027: 2026-12-31"),
        (set(), {D(2028, 1, 1)}, "dates outside 2027: 2028-01-01"),
        (set(), {D(2027, 2, 22)}, "must be a Saturday or Sunday: 2027-02-22"),
        ({D(2027, 2, 20)}, {D(2027, 2, 20)}, "both holiday and make-up working day: 2027-02-20"),
        ({datetime(2027, 1, 1, tzinfo=UTC)}, set(), "must hold datetime.date values"),
    ],
)
def test_arrangement_validation(holidays: set[date], makeups: set[date], message: str) -> None:
    with pytest.raises(CalendarDataError, match=message):
        YearArrangement(2027, frozenset(holidays), frozenset(makeups), "test fixture")


def test_arrangement_needs_frozensets_and_a_source() -> None:
    with pytest.raises(CalendarDataError, match="must be a frozenset"):
        YearArrangement(2027, {D(2027, 1, 1)}, frozenset(), "x")  # type: ignore[arg-type]
    with pytest.raises(CalendarDataError, match="source must be a non-empty string"):
        YearArrangement(2027, frozenset(), frozenset(), " ")


def test_calendar_data_error_is_a_value_error() -> None:
    assert issubclass(CalendarDataError, ValueError)


def test_duplicate_years_rejected() -> None:
    with pytest.raises(CalendarDataError, match="two arrangements given for 2027"):
        WorkingCalendar.build([SYNTHETIC_2027, SYNTHETIC_2027])


# --- range and types ----------------------------------------------------------------------------


def test_default_range() -> None:
    cal = WorkingCalendar.build(today=D(2026, 12, 31))
    assert cal.first_year == package_year_range()[0]
    assert cal.last_year == 2028


def test_default_range_needs_today() -> None:
    with pytest.raises(ValueError, match="give last_year, or today"):
        WorkingCalendar.build()


def test_range_widens_to_loaded_years() -> None:
    fixture = dataclasses.replace(
        SYNTHETIC_2027, year=2030, holidays=frozenset(), makeup_workdays=frozenset()
    )
    cal = WorkingCalendar.build([fixture], first_year=2025, last_year=2026)
    assert (cal.first_year, cal.last_year) == (2025, 2030)
    assert cal.add_working_days(D(2029, 12, 31), 1) == Deadline(D(2030, 1, 1), False)


def test_outside_range_raises_naming_the_range() -> None:
    cal = WorkingCalendar.build(first_year=2025, last_year=2026)
    with pytest.raises(ValueError, match=r"2025-01-01\.\.2026-12-31"):
        cal.is_workday(D(2027, 1, 4))
    with pytest.raises(ValueError, match=r"2025-01-01\.\.2026-12-31"):
        cal.working_days_between(D(2024, 12, 31), D(2025, 1, 2))
    with pytest.raises(ValueError, match="falls after 2026-12-31"):
        cal.add_working_days(D(2026, 12, 30), 2)
    with pytest.raises(ValueError, match="falls after 2028-12-31"):
        WorkingCalendar.build(first_year=2028, last_year=2028).next_workday(D(2028, 12, 30))
    with pytest.raises(ValueError, match="first_year 2027 is after last_year 2026"):
        WorkingCalendar.build(first_year=2027, last_year=2026)


def test_datetimes_refused(cal: WorkingCalendar) -> None:
    with pytest.raises(TypeError, match="beijing_date"):
        cal.add_working_days(datetime(2025, 3, 3, 16, 30, tzinfo=UTC), 1)


def test_immutable(cal: WorkingCalendar) -> None:
    with pytest.raises(AttributeError, match="immutable"):
        cal.first_year = 1999  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        cal.add_working_days(D(2025, 3, 7), 1).due = D(2025, 1, 1)  # type: ignore[misc]


# --- Beijing time ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("moment", "expected"),
    [
        (datetime(2025, 3, 3, 15, 30, tzinfo=UTC), D(2025, 3, 3)),  # 23:30 in Beijing
        (datetime(2025, 3, 3, 16, 30, tzinfo=UTC), D(2025, 3, 4)),  # 00:30 in Beijing
        (datetime(2025, 3, 4, 0, 30, tzinfo=timezone(timedelta(hours=8))), D(2025, 3, 4)),
    ],
)
def test_beijing_date(moment: datetime, expected: date) -> None:
    assert beijing_date(moment) == expected


def test_beijing_date_refuses_naive() -> None:
    with pytest.raises(ValueError, match="naive"):
        beijing_date(datetime(2025, 3, 3, 15, 30))


@pytest.mark.parametrize("which", ["package", "synthetic_2027", "unknown_2027"])
def test_due_dates_batch_equals_add_working_days_every_day(
    cal: WorkingCalendar, unknown_2027: WorkingCalendar, which: str
) -> None:
    # Every day of 2024..2027 (make-up days, holidays, an unconfirmed or loaded 2027) x n 0..45.
    chosen = {
        "package": cal,
        "synthetic_2027": cal.with_arrangement(SYNTHETIC_2027),
        "unknown_2027": unknown_2027,
    }[which]
    starts = [d for d in _days(D(2024, 1, 1), D(2027, 12, 31)) for _ in range(46)]
    ns = list(range(46)) * (len(starts) // 46)
    batch = chosen.due_dates(starts, ns)
    single = [chosen.add_working_days(s, n) for s, n in zip(starts, ns, strict=True)]
    assert batch == single
    # With 2027 loaded, only deadlines reaching into unconfirmed 2028 are provisional.
    provisional_years = {d.due.year for d in batch if d.provisional}
    assert provisional_years == ({2028} if which == "synthetic_2027" else {2027, 2028})


def test_due_dates_batch_raises_like_the_single_call(cal: WorkingCalendar) -> None:
    with pytest.raises(ValueError, match="n must be >= 0"):
        cal.due_dates([D(2025, 3, 3)], [-1])
    with pytest.raises(TypeError):
        cal.due_dates([datetime(2025, 3, 3, tzinfo=UTC)], [1])
    with pytest.raises(ValueError, match="differ in length"):
        cal.due_dates([D(2025, 3, 3)], [1, 2])


def test_due_dates_batch_past_the_direct_rows_equals_the_single_call(cal: WorkingCalendar) -> None:
    # n of 63/64/200 working days (either side of the precomputed rows) from starts near the end
    # of the range too, where rows are shorter: the batch falls back item by item, same answers.
    end = D(cal.last_year, 12, 31)
    starts = [D(2025, 3, 3), D(2025, 9, 30), end - timedelta(days=400), end - timedelta(days=3)]
    fits = [(s, n) for s in starts for n in (63, 64, 0, 1, 200) if s <= end - timedelta(days=400)]
    assert len(fits) == 15
    batch = cal.due_dates([s for s, _ in fits], [n for _, n in fits])
    assert batch == [cal.add_working_days(s, n) for s, n in fits]
    assert cal.due_dates([starts[3]] * 2, [0, 1]) == [
        cal.add_working_days(starts[3], 0),
        cal.add_working_days(starts[3], 1),
    ]
    with pytest.raises(ValueError, match="falls after"):
        cal.due_dates([D(2025, 3, 3), starts[3]], [1, 64])
