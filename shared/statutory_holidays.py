"""The statutory holidays (法定节假日) of a year whose arrangement is not published yet.

The State Council publishes each year's arrangement (放假安排: the blocks, the bridging days
and the make-up working days) late, often in November or December, and can change it mid-year
(as in 2020). What it cannot change is the statutory days themselves, fixed by
《全国年节及纪念日放假办法》: whatever the notice says, those days are off. So for a year
without an arrangement Huodian counts these days as holidays, weekends as rest days, and marks
every result over that year provisional; the published arrangement replaces the prediction.

Since 2025 (国务院令第795号, 2024 revision) there are 13 days: 元旦 (1 January), 春节 (除夕 and
正月初一 to 初三), 清明节 (the Qingming solar term's day), 劳动节 (1–2 May), 端午节 (五月初五),
中秋节 (八月十五) and 国庆节 (1–3 October). From 2014 to 2024 there were 11 (no 除夕, 1 May
only); that rule is used for years before 2025. The lunar dates and the solar term come from
``lunar_python`` (6tail's lunar calendar, which computes both); the days the arrangement will
add around them (bridging days, moved weekends) are not guessed.
"""

from __future__ import annotations

import functools
from datetime import date, timedelta

from lunar_python import Lunar  # type: ignore[import-untyped, unused-ignore]

__all__ = ["REVISED_RULES_FROM", "predicted_holidays"]

REVISED_RULES_FROM = 2025
"""The first year of the 13-day rule (除夕 and 2 May added)."""


def _solar(lunar: object) -> date:
    solar = lunar.getSolar()  # type: ignore[attr-defined]
    return date(solar.getYear(), solar.getMonth(), solar.getDay())


@functools.cache
def predicted_holidays(year: int) -> frozenset[date]:
    """The statutory days off of ``year`` (Gregorian), e.g. 2027: 01-01, 02-05..02-08 (除夕 to
    初三), 04-05, 05-01, 05-02, 06-09, 09-15, 10-01..10-03."""
    spring_festival = _solar(Lunar.fromYmd(year, 1, 1))
    qingming_term = Lunar.fromYmd(year, 3, 1).getJieQiTable()["清明"]
    days = {
        date(year, 1, 1),
        spring_festival,
        spring_festival + timedelta(days=1),
        spring_festival + timedelta(days=2),
        date(qingming_term.getYear(), qingming_term.getMonth(), qingming_term.getDay()),
        date(year, 5, 1),
        _solar(Lunar.fromYmd(year, 5, 5)),
        _solar(Lunar.fromYmd(year, 8, 15)),
        date(year, 10, 1),
        date(year, 10, 2),
        date(year, 10, 3),
    }
    if year >= REVISED_RULES_FROM:
        days |= {spring_festival - timedelta(days=1), date(year, 5, 2)}
    return frozenset(d for d in days if d.year == year)
