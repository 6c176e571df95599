"""Benchmark of the working-day calendar: ``python bench/bench_calendar.py``.

Times one calendar build, then 1,000,000 ``add_working_days`` calls (varied starts, n in 0..40)
and 1,000,000 ``working_days_between`` calls.
"""

from __future__ import annotations

import random
import sys
import time
from datetime import date, timedelta
from pathlib import Path

# Runnable as a plain script from a checkout, without installing the project.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from shared.calendar import WorkingCalendar

CALLS = 1_000_000


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
