"""Benchmark of the working-day calendar: ``python bench/bench_calendar.py``.

Times one calendar build, then 1,000,000 ``add_working_days`` calls (varied starts, n in 0..40)
and 1,000,000 ``working_days_between`` calls. :func:`cases` gives ``bench/run.py`` the batch
``due_dates`` against a plain ``bisect`` over the sorted working days (issue 14: ≤ 0.4×).
"""

from __future__ import annotations

import bisect
import random
import sys
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import date, timedelta
from pathlib import Path

# Runnable as a plain script from a checkout, without installing the project.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.harness import Case
from shared.calendar import Deadline, WorkingCalendar

CALLS = 1_000_000
NAMES = ("calendar: due_dates vs bisect",)


def _inputs(calls: int) -> tuple[list[date], list[int]]:
    rng = random.Random(20251001)
    # Starts over 2024-01-01 .. 2027-06-30, which crosses into an unconfirmed year.
    first = date(2024, 1, 1)
    span = (date(2027, 6, 30) - first).days
    starts = [first + timedelta(days=rng.randrange(span)) for _ in range(calls)]
    ns = [rng.randrange(1, 41) for _ in range(calls)]
    return starts, ns


def bisect_due_dates(
    cal: WorkingCalendar, starts: list[date], ns: list[int]
) -> Callable[[], list[Deadline]]:
    """The baseline: the n-th working day after each start by ``bisect`` over the sorted working
    days' ordinals; provisional when the due day is on or after the first unconfirmed day (the
    bench's unconfirmed years are all at the end). Built once outside the timing."""
    work = [
        d.toordinal()
        for y in range(cal.first_year, cal.last_year + 1)
        for d in (date(y, 1, 1) + timedelta(days=i) for i in range(366))
        if d.year == y and cal.is_workday(d)
    ]
    first_unconfirmed = min(
        date(y, 1, 1).toordinal()
        for y in range(cal.first_year, cal.last_year + 2)
        if y > cal.last_year or not cal.is_confirmed(y)
    )
    sure = [Deadline(date.fromordinal(o), False) for o in work]
    unsure = [Deadline(date.fromordinal(o), True) for o in work]
    after = bisect.bisect_right

    def run() -> list[Deadline]:
        out = []
        for s, n in zip(starts, ns, strict=True):
            k = after(work, s.toordinal()) + n - 1
            out.append(unsure[k] if work[k] >= first_unconfirmed else sure[k])
        return out

    return run


@asynccontextmanager
async def cases(quick: bool) -> AsyncIterator[list[Case]]:
    calls = CALLS // 100 if quick else CALLS
    cal = WorkingCalendar.build(last_year=2028)
    starts, ns = _inputs(calls)
    baseline = bisect_due_dates(cal, starts, ns)
    if cal.due_dates(starts, ns) != baseline():
        raise AssertionError("due_dates and the bisect baseline disagree")
    yield [
        Case(
            name=NAMES[0],
            rows=calls,
            baseline=baseline,
            subject=lambda: cal.due_dates(starts, ns),
            max_ratio=0.4,
            rounds=3 if quick else 5,
        )
    ]


def main() -> None:
    rng = random.Random(20251001)
    t0 = time.perf_counter()
    cal = WorkingCalendar.build(last_year=2028)
    build_s = time.perf_counter() - t0

    # Starts over 2024-01-01 .. 2027-06-30, which crosses into an unconfirmed year.
    first = date(2024, 1, 1)
    span = (date(2027, 6, 30) - first).days
    starts = [first + timedelta(days=rng.randrange(span)) for _ in range(CALLS)]
    ns = [rng.randrange(41) for _ in range(CALLS)]
    ends = [s + timedelta(days=rng.randrange(90)) for s in starts]

    add = cal.add_working_days
    t0 = time.perf_counter()
    provisional = 0
    for s, n in zip(starts, ns, strict=True):
        provisional += add(s, n).provisional
    add_s = time.perf_counter() - t0

    between = cal.working_days_between
    t0 = time.perf_counter()
    total = 0
    for s, e in zip(starts, ends, strict=True):
        total += between(s, e).days
    between_s = time.perf_counter() - t0

    print(f"build {cal.first_year}..{cal.last_year}: {build_s * 1e3:.1f} ms")
    print(
        f"add_working_days x{CALLS:,}: {add_s:.3f} s ({add_s / CALLS * 1e9:.0f} ns/call, "
        f"{provisional:,} provisional)"
    )
    print(
        f"working_days_between x{CALLS:,}: {between_s:.3f} s "
        f"({between_s / CALLS * 1e9:.0f} ns/call, checksum {total})"
    )


if __name__ == "__main__":
    main()
