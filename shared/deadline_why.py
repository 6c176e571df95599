"""Why a deadline is what it is (期限说明): every day of a span, counted or skipped, and why.

A span is the days ``d`` with ``start < d <= end``, the convention of
:class:`shared.calendar.WorkingCalendar` (the start day itself never counts). Each day is
classified with the calendar the clock uses (:meth:`~shared.calendar.WorkingCalendar.is_workday`
and the year's arrangement), so the working days listed here are exactly those
:meth:`~shared.calendar.WorkingCalendar.working_days_between` counts: a test holds the two
together. A working day inside a pause for the customer (暂停计时) is listed but not counted.

Holiday names come from ``chinese_calendar`` for the years it publishes; a year loaded from a
State Council notice (国务院办公厅通知) carries no names, and a year not yet published lists its
predicted statutory days (:mod:`shared.statutory_holidays`) as provisional.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum

# The project's mypy config may already silence this import, hence unused-ignore.
import chinese_calendar  # type: ignore[import-untyped, unused-ignore]
from pydantic import BaseModel

from shared.calendar import WorkingCalendar, package_year_range
from shared.statutory_holidays import predicted_holidays

__all__ = [
    "DAY_BY_DAY_MAX",
    "KIND_LABELS",
    "WEEKDAY_LABELS",
    "CalendarYearUsed",
    "DayExplained",
    "DayKind",
    "PauseWindow",
    "SpanWhy",
    "calendar_years_used",
    "explain_span",
    "span_lines",
]

DAY_BY_DAY_MAX = 62
"""Spans up to about two months are listed day by day; longer ones are summed up."""
WEEKDAY_LABELS = ("周一", "周二", "周三", "周四", "周五", "周六", "周日")


class DayKind(StrEnum):
    workday = "workday"
    """工作日, counted."""
    makeup_workday = "makeup_workday"
    """调休上班日: a Saturday or Sunday declared a working day, counted."""
    paused = "paused"
    """A working day inside a pause for the customer (暂停计时): not counted."""
    weekend = "weekend"
    """周末, skipped."""
    holiday = "holiday"
    """法定节假日 or a day of its holiday block (放假), skipped."""


KIND_LABELS = {
    DayKind.workday: "工作日，计入",
    DayKind.makeup_workday: "调休上班日，计入",
    DayKind.paused: "暂停计时，不计入",
    DayKind.weekend: "周末，不计",
    DayKind.holiday: "节假日，不计",
}

# The package's own Chinese names (Holiday.national_day.chinese == "国庆节").
_HOLIDAY_NAMES: dict[str, str] = {h.value: h.chinese for h in chinese_calendar.Holiday}


class DayExplained(BaseModel):
    """One day of a span: what it is and whether it counted."""

    day: date
    weekday: str
    kind: DayKind
    counted: bool
    """A working day counted against the limit (not skipped, not paused)."""
    working: bool
    """A working day by the calendar (counted or paused)."""
    holiday_name: str | None = None
    provisional: bool = False
    """Its year's arrangement is not published yet: a prediction."""


class SpanWhy(BaseModel):
    """The days from ``from_day`` (exclusive) to ``to_day`` (inclusive), each explained."""

    from_day: date
    to_day: date
    working_days: int
    """Working days in the span, as ``WorkingCalendar.working_days_between`` counts them."""
    paused_days: int
    """Working days of the span inside a pause."""
    counted_days: int
    """Working days counted against the limit: ``working_days - paused_days``."""
    skipped_weekend_days: int
    skipped_holiday_days: int
    makeup_workdays: int
    provisional: bool
    days_listed: bool = True
    """False for a span too long to list day by day: the counts above still stand."""
    days: list[DayExplained]


class CalendarYearUsed(BaseModel):
    """The calendar data a year's days were judged by (日历版本)."""

    year: int
    confirmed: bool
    source: str


@dataclass(frozen=True)
class PauseWindow:
    """A pause's working days are those in ``(start, end]``, as the clock counts them."""

    start: date
    end: date

    def covers(self, day: date) -> bool:
        return self.start < day <= self.end


def _holiday_name(calendar: WorkingCalendar, day: date) -> str | None:
    """The holiday's name from the package, where the package knows the year and the day is a
    holiday (or its make-up working day) both there and in a loaded arrangement: a notice
    carries no names of its own."""
    first, last = package_year_range()
    if not first <= day.year <= last:
        return None
    loaded = next((a for a in calendar.arrangements if a.year == day.year), None)
    if loaded is not None and day not in loaded.holidays | loaded.makeup_workdays:
        return None
    _, name = chinese_calendar.get_holiday_detail(day)
    if name is None:
        return None
    return _HOLIDAY_NAMES.get(str(name), str(name))


def _rest_kind(calendar: WorkingCalendar, day: date) -> DayKind:
    arrangement = next((a for a in calendar.arrangements if a.year == day.year), None)
    if arrangement is not None:
        holidays: frozenset[date] | dict[date, object] = arrangement.holidays
    elif calendar.is_confirmed(day.year):
        holidays = chinese_calendar.holidays
    else:
        holidays = predicted_holidays(day.year)
    return DayKind.holiday if day in holidays else DayKind.weekend


def explain_day(
    calendar: WorkingCalendar, day: date, pauses: Sequence[PauseWindow] = ()
) -> DayExplained:
    """One day as the clock sees it."""
    provisional = not calendar.is_confirmed(day.year)
    weekday = WEEKDAY_LABELS[day.weekday()]
    if calendar.is_workday(day):
        kind = DayKind.makeup_workday if day.weekday() >= 5 else DayKind.workday
        if any(p.covers(day) for p in pauses):
            kind = DayKind.paused
        return DayExplained(
            day=day,
            weekday=weekday,
            kind=kind,
            counted=kind is not DayKind.paused,
            working=True,
            # A make-up day belongs to a holiday: 2026-02-14 is worked for the Spring Festival.
            holiday_name=_holiday_name(calendar, day) if day.weekday() >= 5 else None,
            provisional=provisional,
        )
    kind = _rest_kind(calendar, day)
    name = _holiday_name(calendar, day) if kind is DayKind.holiday else None
    if kind is DayKind.holiday and name is None and provisional:
        name = "法定节假日"
    return DayExplained(
        day=day,
        weekday=weekday,
        kind=kind,
        counted=False,
        working=False,
        holiday_name=name,
        provisional=provisional,
    )


def explain_span(
    calendar: WorkingCalendar,
    start: date,
    end: date,
    pauses: Sequence[PauseWindow] = (),
    *,
    max_listed: int | None = None,
) -> SpanWhy:
    """Every day of ``(start, end]`` explained; empty when ``end <= start``.

    With ``max_listed``, a longer span is counted the same way but its days are not listed
    (``days`` is empty, ``days_listed`` False): a ledger item asked about decades ahead.
    """
    total = max(0, (end - start).days)
    listed = max_listed is None or total <= max_listed
    days: list[DayExplained] = []
    working = paused = weekend = holiday = makeup = 0
    provisional = False
    day = start + timedelta(days=1)
    while day <= end:
        if listed:
            explained = explain_day(calendar, day, pauses)
            days.append(explained)
            kind, is_provisional = explained.kind, explained.provisional
        else:
            kind, is_provisional = _kind(calendar, day, pauses), not calendar.is_confirmed(day.year)
        working += kind in (DayKind.workday, DayKind.makeup_workday, DayKind.paused)
        paused += kind is DayKind.paused
        weekend += kind is DayKind.weekend
        holiday += kind is DayKind.holiday
        makeup += kind is DayKind.makeup_workday
        provisional |= is_provisional
        day += timedelta(days=1)
    return SpanWhy(
        from_day=start,
        to_day=max(start, end),
        working_days=working,
        paused_days=paused,
        counted_days=working - paused,
        skipped_weekend_days=weekend,
        skipped_holiday_days=holiday,
        makeup_workdays=makeup,
        provisional=provisional,
        days_listed=listed,
        days=days,
    )


def _kind(calendar: WorkingCalendar, day: date, pauses: Sequence[PauseWindow]) -> DayKind:
    if not calendar.is_workday(day):
        return _rest_kind(calendar, day)
    if any(p.covers(day) for p in pauses):
        return DayKind.paused
    return DayKind.makeup_workday if day.weekday() >= 5 else DayKind.workday


def calendar_years_used(calendar: WorkingCalendar, years: Iterable[int]) -> list[CalendarYearUsed]:
    """Where each year's working days came from: a loaded notice, the package, or a prediction."""
    return [
        CalendarYearUsed(
            year=year,
            confirmed=calendar.is_confirmed(year),
            source=calendar.source_of(year)
            or "尚未公布：按《全国年节及纪念日放假办法》预测法定节假日，结果为暂定",
        )
        for year in sorted(set(years))
    ]


def _run_text(first: DayExplained, last: DayExplained, count: int) -> str:
    when = (
        f"{first.day.isoformat()}（{first.weekday}）"
        if first.day == last.day
        else f"{first.day.isoformat()}（{first.weekday}）至{last.day.isoformat()}（{last.weekday}）"
    )
    if first.kind is DayKind.holiday:
        what = f"{first.holiday_name or '节假日'}放假，跳过{count}天"
    elif first.kind is DayKind.weekend:
        what = f"周末，跳过{count}天"
    elif first.kind is DayKind.paused:
        what = f"暂停计时，{count}个工作日不计入"
    elif first.kind is DayKind.makeup_workday:
        why = f"{first.holiday_name}调休" if first.holiday_name else "调休"
        what = f"{why}上班日，计入{count}个工作日"
    else:
        what = f"工作日，计入{count}个工作日"
    if first.provisional:
        what += "（该年放假安排未公布，暂定）"
    return f"{when}：{what}"


def _run_key(day: DayExplained) -> tuple[DayKind, str | None, bool]:
    named = day.kind in (DayKind.holiday, DayKind.makeup_workday)
    return day.kind, day.holiday_name if named else None, day.provisional


def span_lines(span: SpanWhy, *, every_day: bool | None = None) -> list[str]:
    """The span as readable Chinese lines, one per run of days of the same kind.

    A long span (more than :data:`DAY_BY_DAY_MAX` days, e.g. a ledger item years overdue) is
    summed up instead, listing only its holidays and make-up working days; ``every_day`` forces
    one way or the other.
    """
    length = (span.to_day - span.from_day).days
    detailed = length <= DAY_BY_DAY_MAX if every_day is None else every_day
    lines: list[str] = []
    if not detailed:
        lines.append(
            f"{span.from_day.isoformat()}（不含）至{span.to_day.isoformat()}共{length}天："
            f"工作日{span.working_days}天（其中调休上班{span.makeup_workdays}天"
            + (f"，暂停计时{span.paused_days}天" if span.paused_days else "")
            + f"），周末{span.skipped_weekend_days}天，节假日{span.skipped_holiday_days}天。"
        )
    run: list[DayExplained] = []
    for day in span.days:
        if run and _run_key(day) != _run_key(run[-1]):
            lines.append(_run_text(run[0], run[-1], len(run)))
            run = []
        if detailed or day.kind in (DayKind.holiday, DayKind.makeup_workday):
            run.append(day)
    if run:
        lines.append(_run_text(run[0], run[-1], len(run)))
    return lines
