"""China's official working-day calendar (工作日), for deadlines counted in working days.

A day is a working day if it is Monday-Friday and not a public holiday (法定节假日), or if it is a
weekend day declared a make-up working day (调休上班). The data comes from the maintained package
``chinese_calendar`` (pip ``chinesecalendar``); years it does not know yet can be loaded as a
:class:`YearArrangement` once the State Council (国务院办公厅) publishes them. Any other year is
*unconfirmed*: its statutory holidays are predicted (:mod:`shared.statutory_holidays`: the fixed
dates and the lunar ones, e.g. 2027-01-01 and 2027-10-01 are off whatever the notice will say),
the other weekdays count as working days, and every result touching it is marked provisional.

Everything is precomputed per :class:`WorkingCalendar`, so queries are O(1) list look-ups.
"""

from __future__ import annotations

import bisect
import functools
import operator
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from types import MappingProxyType
from typing import Any, NoReturn
from zoneinfo import ZoneInfo

# The project's mypy config may already silence this import, hence unused-ignore.
import chinese_calendar  # type: ignore[import-untyped, unused-ignore]

from shared.statutory_holidays import predicted_holidays

__all__ = [
    "BEIJING",
    "CalendarDataError",
    "Deadline",
    "WorkingCalendar",
    "WorkingDayCount",
    "YearArrangement",
    "beijing_date",
    "package_source",
    "package_year_range",
]

BEIJING = ZoneInfo("Asia/Shanghai")
_ROW_WIDTH = 64  # due_dates' direct rows cover n = 0..63 working days
"""China Standard Time (北京时间); working days are Beijing calendar dates."""


class CalendarDataError(ValueError):
    """A holiday arrangement (放假安排) is inconsistent."""


class CalendarRangeError(ValueError):
    """A date, or a deadline computed from it, lies outside the precomputed years."""


def beijing_date(moment: datetime) -> date:
    """The Beijing calendar date of an aware datetime (usually UTC); naive datetimes are refused."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"beijing_date needs a timezone-aware datetime, got naive {moment!r}")
    return moment.astimezone(BEIJING).date()


def _is_plain_date(value: object) -> bool:
    # datetime is a date subclass, but its calendar date depends on a time zone.
    return isinstance(value, date) and not isinstance(value, datetime)


def _listed(dates: Iterable[date]) -> str:
    return ", ".join(d.isoformat() for d in sorted(dates))


@dataclass(frozen=True, slots=True)
class YearArrangement:
    """One year's official holiday arrangement (节假日安排), e.g. from the State Council notice.

    ``holidays`` are the days off (they may include weekend days inside a holiday block);
    ``makeup_workdays`` are weekend days that are working days (调休上班). ``source`` says where
    the data came from (e.g. the notice's number), and is reported by
    :meth:`WorkingCalendar.source_of`.
    """

    year: int
    holidays: frozenset[date]
    makeup_workdays: frozenset[date]
    source: str

    def __post_init__(self) -> None:
        where = f"{self.year!r} arrangement"
        if not isinstance(self.year, int) or isinstance(self.year, bool):
            raise CalendarDataError(f"{where}: year must be an int")
        if not isinstance(self.source, str) or not self.source.strip():
            raise CalendarDataError(f"{where}: source must be a non-empty string")
        for field in ("holidays", "makeup_workdays"):
            value: Any = getattr(self, field)
            if not isinstance(value, frozenset):
                raise CalendarDataError(f"{where}: {field} must be a frozenset of dates")
            bad = [repr(d) for d in value if not _is_plain_date(d)]
            if bad:
                raise CalendarDataError(
                    f"{where}: {field} must hold datetime.date values, got {', '.join(bad)}"
                )
        foreign = {d for d in self.holidays | self.makeup_workdays if d.year != self.year}
        if foreign:
            raise CalendarDataError(f"{where}: dates outside {self.year}: {_listed(foreign)}")
        weekdays = {d for d in self.makeup_workdays if d.weekday() < 5}
        if weekdays:
            raise CalendarDataError(
                f"{where}: make-up working days must be a Saturday or Sunday: {_listed(weekdays)}"
            )
        both = self.holidays & self.makeup_workdays
        if both:
            raise CalendarDataError(
                f"{where}: dates both holiday and make-up working day: {_listed(both)}"
            )


@dataclass(frozen=True, slots=True)
class Deadline:
    """A due date; ``provisional`` if it was computed over a year whose arrangement is unknown."""

    due: date
    provisional: bool


@dataclass(frozen=True, slots=True)
class WorkingDayCount:
    """A number of working days; ``provisional`` if it counted over an unconfirmed year."""

    days: int
    provisional: bool


def package_source() -> str:
    """The package data's source label, e.g. "chinesecalendar 1.11.0"."""
    return f"chinesecalendar {chinese_calendar.__version__}"


@functools.cache
def package_year_range() -> tuple[int, int]:
    """First and last year the installed ``chinese_calendar`` has official data for."""
    # The same rule the package itself applies before raising NotImplementedError.
    years = [d.year for d in chinese_calendar.holidays]
    return min(years), max(years)


@functools.cache
def _package_arrangements() -> Mapping[int, YearArrangement]:
    first, last = package_year_range()
    holidays: dict[int, set[date]] = {y: set() for y in range(first, last + 1)}
    makeups: dict[int, set[date]] = {y: set() for y in range(first, last + 1)}
    for table, by_year in (
        (chinese_calendar.holidays, holidays),
        (chinese_calendar.workdays, makeups),
    ):
        for d in table:
            if first <= d.year <= last:
                by_year[d.year].add(d)
    source = package_source()
    return MappingProxyType(
        {
            y: YearArrangement(y, frozenset(holidays[y]), frozenset(makeups[y]), source)
            for y in range(first, last + 1)
        }
    )


class WorkingCalendar:
    """Working-day arithmetic over a fixed range of years, precomputed once; immutable.

    Create with :meth:`build`. Dates outside ``first_year..last_year`` raise ``ValueError``
    naming the range, and so does arithmetic whose answer would fall outside it. ``datetime``
    arguments are refused with ``TypeError``: convert with :func:`beijing_date` first.
    """

    __slots__ = (
        "_arrangements",
        "_base",
        "_count",
        "_counts",
        "_counts_provisional",
        "_due",
        "_due_provisional",
        "_due_rows",
        "_first_year",
        "_last_year",
        "_size",
        "_unconfirmed",
        "_unconfirmed_at_work",
        "_work_dates",
    )

    # Tables, indexed by day offset i from 1 January of first_year (k numbers the working days):
    # _count[i] / _unconfirmed[i]: working / unconfirmed days before day i;
    # _work_dates[k], _due[k], _due_provisional[k]: the k-th working day, bare and as Deadline;
    # _unconfirmed_at_work[k]: unconfirmed days up to and including the k-th working day;
    # _counts[m], _counts_provisional[m]: WorkingDayCount(m, ...), shared instead of rebuilt.
    # _due_rows[start][n]: add_working_days(start, n) for n < _ROW_WIDTH, built on first use.
    _arrangements: Mapping[int, YearArrangement]
    _base: int
    _count: list[int]
    _counts: list[WorkingDayCount]
    _counts_provisional: list[WorkingDayCount]
    _due: list[Deadline]
    _due_provisional: list[Deadline]
    _due_rows: dict[date, tuple[Deadline, ...]] | None
    _first_year: int
    _last_year: int
    _size: int
    _unconfirmed: list[int]
    _unconfirmed_at_work: list[int]
    _work_dates: list[date]

    def __init__(
        self, *, first_year: int, last_year: int, arrangements: Mapping[int, YearArrangement]
    ) -> None:
        """Internal; use :meth:`build`."""
        package = _package_arrangements()
        base = date(first_year, 1, 1).toordinal()
        count = [0]
        unconfirmed = [0]
        work_ordinals: list[int] = []
        unconfirmed_at_work: list[int] = []
        for year in range(first_year, last_year + 1):
            data = arrangements.get(year) or package.get(year)
            predicted = predicted_holidays(year) if data is None else frozenset()
            holidays = {d.toordinal() for d in (data.holidays if data else predicted)}
            makeups = {d.toordinal() for d in data.makeup_workdays} if data else set()
            is_unconfirmed = int(data is None)
            for ordinal in range(date(year, 1, 1).toordinal(), date(year, 12, 31).toordinal() + 1):
                # Ordinal 1 (0001-01-01) is a Monday, so weekday == (ordinal - 1) % 7.
                weekday = (ordinal - 1) % 7
                working = ordinal in makeups or (weekday < 5 and ordinal not in holidays)
                unconfirmed.append(unconfirmed[-1] + is_unconfirmed)
                if working:
                    work_ordinals.append(ordinal)
                    unconfirmed_at_work.append(unconfirmed[-1])
                count.append(count[-1] + working)
        work_dates = [date.fromordinal(o) for o in work_ordinals]
        init = functools.partial(object.__setattr__, self)
        init("_arrangements", MappingProxyType(dict(arrangements)))
        init("_base", base)
        init("_first_year", first_year)
        init("_last_year", last_year)
        init("_size", len(count) - 1)
        init("_count", count)
        init("_unconfirmed", unconfirmed)
        init("_unconfirmed_at_work", unconfirmed_at_work)
        init("_work_dates", work_dates)
        init("_due", [Deadline(d, False) for d in work_dates])
        init("_due_provisional", [Deadline(d, True) for d in work_dates])
        init("_due_rows", None)
        init("_counts", [WorkingDayCount(m, False) for m in range(len(work_dates) + 1)])
        init("_counts_provisional", [WorkingDayCount(m, True) for m in range(len(work_dates) + 1)])

    def __setattr__(self, name: str, value: object) -> NoReturn:
        raise AttributeError(f"WorkingCalendar is immutable; cannot set {name!r}")

    def __delattr__(self, name: str) -> NoReturn:
        raise AttributeError(f"WorkingCalendar is immutable; cannot delete {name!r}")

    def __repr__(self) -> str:
        loaded = ", ".join(str(y) for y in sorted(self._arrangements)) or "none"
        return (
            f"WorkingCalendar({self._first_year}..{self._last_year}, {package_source()}, "
            f"loaded years: {loaded})"
        )

    @classmethod
    def build(
        cls,
        arrangements: Iterable[YearArrangement] = (),
        first_year: int | None = None,
        last_year: int | None = None,
        *,
        today: date | None = None,
    ) -> WorkingCalendar:
        """Precompute a calendar for ``first_year..last_year`` (both inclusive).

        Defaults: the package's first known year through ``today``'s year + 2 (the caller's
        clock says what today is; the calendar never reads the wall clock). Loaded
        ``arrangements`` override the package for their year, and the range is widened to
        include them. Two arrangements for the same year raise :class:`CalendarDataError`.
        """
        loaded: dict[int, YearArrangement] = {}
        for arrangement in arrangements:
            if arrangement.year in loaded:
                raise CalendarDataError(f"two arrangements given for {arrangement.year}")
            loaded[arrangement.year] = arrangement
        first = package_year_range()[0] if first_year is None else first_year
        if last_year is None:
            if today is None:
                raise ValueError("give last_year, or today to count two years on from")
            last_year = today.year + 2
        last = last_year
        if first > last:
            raise ValueError(f"first_year {first} is after last_year {last}")
        if loaded:
            first, last = min(first, *loaded), max(last, *loaded)
        return cls(first_year=first, last_year=last, arrangements=loaded)

    def with_arrangement(self, arrangement: YearArrangement) -> WorkingCalendar:
        """A new calendar with ``arrangement`` loaded (replacing any loaded for that year)."""
        loaded = {**self._arrangements, arrangement.year: arrangement}
        return WorkingCalendar.build(loaded.values(), self._first_year, self._last_year)

    @property
    def first_year(self) -> int:
        """First year of the precomputed range."""
        return self._first_year

    @property
    def last_year(self) -> int:
        """Last year of the precomputed range."""
        return self._last_year

    @property
    def arrangements(self) -> tuple[YearArrangement, ...]:
        """The loaded arrangements, by year."""
        return tuple(self._arrangements[y] for y in sorted(self._arrangements))

    def is_confirmed(self, year: int) -> bool:
        """Whether ``year``'s official arrangement is known (package data or loaded)."""
        first, last = package_year_range()
        return year in self._arrangements or first <= year <= last

    def confirmed_years(self) -> tuple[int, ...]:
        """All confirmed years, ascending (they may extend beyond the precomputed range)."""
        first, last = package_year_range()
        return tuple(sorted(set(range(first, last + 1)) | set(self._arrangements)))

    def source_of(self, year: int) -> str | None:
        """Where ``year``'s data comes from: a loaded arrangement's source, the package, or None."""
        if year in self._arrangements:
            return self._arrangements[year].source
        first, last = package_year_range()
        return package_source() if first <= year <= last else None

    def _out_of_range(self, d: date) -> NoReturn:
        if isinstance(d, datetime):
            raise TypeError(f"expected a date, got datetime {d!r}; convert it with beijing_date()")
        raise CalendarRangeError(
            f"{d.isoformat()} is outside this calendar's range "
            f"{self._first_year}-01-01..{self._last_year}-12-31"
        )

    def _past_end(self, what: str) -> NoReturn:
        raise CalendarRangeError(
            f"{what} falls after {self._last_year}-12-31, the end of this calendar"
        )

    def is_workday(self, d: date) -> bool:
        """Whether ``d`` is a working day (if its year is unconfirmed: not a weekend and not a
        predicted statutory holiday)."""
        i = d.toordinal() - self._base
        if not 0 <= i < self._size or isinstance(d, datetime):
            self._out_of_range(d)
        return self._count[i + 1] != self._count[i]

    def add_working_days(self, start: date, n: int) -> Deadline:
        """The deadline of a stage of ``n`` working days that starts on ``start``.

        The day ``start`` itself never counts: the result is the n-th working day *after*
        ``start``. So an application accepted on a Friday with a 1-working-day limit is due the
        following Monday (or the next working day if Monday is a holiday), and one accepted on a
        Saturday is due on Monday too. ``n == 0`` gives ``start``. ``n < 0`` raises ValueError.
        ``provisional`` is True if a day in ``(start, due]`` lies in an unconfirmed year.
        Inverse of :meth:`working_days_between`: ``working_days_between(s, due).days == n``.
        """
        i = start.toordinal() - self._base
        if not 0 <= i < self._size or isinstance(start, datetime):
            self._out_of_range(start)
        if n <= 0:
            if n == 0:
                return Deadline(start, False)
            raise ValueError(f"n must be >= 0 working days, got {n}")
        k = self._count[i + 1] + n - 1
        if k >= len(self._due):
            self._past_end(f"{n} working days after {start.isoformat()}")
        if self._unconfirmed_at_work[k] != self._unconfirmed[i + 1]:
            return self._due_provisional[k]
        return self._due[k]

    def _rows(self) -> dict[date, tuple[Deadline, ...]]:
        """Per start date, its deadlines for n = 0 .. _ROW_WIDTH - 1 (shorter near the end)."""
        rows = self._due_rows
        if rows is not None:
            return rows
        due, due_provisional, at_work = self._due, self._due_provisional, self._unconfirmed_at_work
        last = len(due)
        rows = {}
        for i in range(self._size):
            start = date.fromordinal(self._base + i)
            first = self._count[i + 1]  # index of the first working day after start
            end = min(first + _ROW_WIDTH - 1, last)
            # Deadlines from `provisional` on reach an unconfirmed day in (start, due].
            provisional = max(first, bisect.bisect_right(at_work, self._unconfirmed[i + 1]))
            rows[start] = (
                Deadline(start, False),
                *due[first : min(provisional, end)],
                *due_provisional[provisional:end],
            )
        object.__setattr__(self, "_due_rows", rows)
        return rows

    def due_dates(self, starts: Sequence[date], ns: Sequence[int]) -> list[Deadline]:
        """``[add_working_days(s, n) for s, n in zip(starts, ns)]`` in one call, for bulk work
        (recomputing open deadlines after a calendar change); same results, same errors.

        The common case (every start a plain date in range, every n in 0..63) is two direct
        index look-ups per item, done by ``map`` in C: the start's precomputed row, then its
        n-th entry. Anything else takes one item at a time, the unusual ones through
        :meth:`add_working_days` for its answer or error.
        """
        if len(starts) != len(ns):
            raise ValueError(f"starts and ns differ in length: {len(starts)} != {len(ns)}")
        rows = self._rows()
        if not ns or min(ns) >= 0:
            try:
                return list(map(operator.getitem, map(rows.__getitem__, starts), ns))
            except (KeyError, IndexError, TypeError):
                pass  # a date out of range, a datetime, or n past the row: item by item
        single = self.add_working_days
        out: list[Deadline] = []
        append = out.append
        for start, n in zip(starts, ns, strict=True):
            row = rows.get(start) if type(start) is date else None
            if row is not None and 0 <= n < len(row):
                append(row[n])
            else:
                append(single(start, n))
        return out

    def working_days_between(self, start: date, end: date) -> WorkingDayCount:
        """The working days elapsed from ``start`` to ``end``: days d with start < d <= end.

        0 if ``end <= start``. ``provisional`` if one of those days is in an unconfirmed year.
        """
        i = start.toordinal() - self._base
        j = end.toordinal() - self._base
        if not 0 <= i < self._size or isinstance(start, datetime):
            self._out_of_range(start)
        if not 0 <= j < self._size or isinstance(end, datetime):
            self._out_of_range(end)
        if j <= i:
            return self._counts[0]
        days = self._count[j + 1] - self._count[i + 1]
        if self._unconfirmed[j + 1] != self._unconfirmed[i + 1]:
            return self._counts_provisional[days]
        return self._counts[days]

    def working_days_before(self, d: date, n: int) -> date:
        """The ``n``-th working day before ``d`` (``d`` itself never counts), for reminders
        "n working days before" a due date.

        Due 2026-10-09, a Friday just after the National Day holiday (10-01..10-07) and with
        09-25 (Mid-Autumn) off: 1 working day before is 10-08, 2 before is 09-30, 7 before is
        09-22 — not 10-02, inside the holiday, as seven calendar days would give.
        ``n == 0`` gives ``d``. ``n < 0`` raises ValueError.
        """
        i = d.toordinal() - self._base
        if not 0 <= i < self._size or isinstance(d, datetime):
            self._out_of_range(d)
        if n <= 0:
            if n == 0:
                return d
            raise ValueError(f"n must be >= 0 working days, got {n}")
        k = self._count[i] - n
        if k < 0:
            self._out_of_range(date.fromordinal(self._base))
        return self._work_dates[k]

    def next_workday(self, d: date) -> date:
        """``d`` if it is a working day, else the first working day after it.

        Weekends-only in unconfirmed years; check :meth:`is_confirmed` on the result's year
        where that matters.
        """
        i = d.toordinal() - self._base
        if not 0 <= i < self._size or isinstance(d, datetime):
            self._out_of_range(d)
        k = self._count[i]
        if self._count[i + 1] != k:
            return d
        if k >= len(self._work_dates):
            self._past_end(f"the next working day after {d.isoformat()}")
        return self._work_dates[k]
