"""Half-year and annual reports (半年报告、年度报告) on a ledger.

The plan asks for the first half of each year by 25 June and for the whole year by 4 January of
the next; a report shows each item's latest status as of the period's end (or today, while the
period is still running), a summary per unit, and the overdue list.
"""

from __future__ import annotations

from collections import Counter
from datetime import date, datetime

from sqlmodel.ext.asyncio.session import AsyncSession

from services.ledger.escalations.service import escalations
from services.ledger.ledgers.items import ItemFilter, list_items
from services.ledger.ledgers.models import ItemPublic
from services.ledger.ledgers.service import get_ledger
from services.ledger.reports.models import LedgerReport, ReportKind, UnitSummary
from services.ledger.updates.models import TaskStatus
from shared.errors import Unprocessable
from shared.pagination import ALL_ROWS

REPORT_TITLES = {ReportKind.half_year: "上半年工作情况报告", ReportKind.annual: "年度工作情况报告"}


def report_period(kind: ReportKind, year: int) -> tuple[date, date, date]:
    """(period start, period end, submission due) of a report."""
    if not 2000 <= year <= 2100:
        raise Unprocessable(f"year {year} is out of range", code="bad_year")
    if kind is ReportKind.half_year:
        return date(year, 1, 1), date(year, 6, 30), date(year, 6, 25)
    return date(year, 1, 1), date(year, 12, 31), date(year + 1, 1, 4)


def _unit_summaries(items: list[ItemPublic]) -> list[UnitSummary]:
    names: dict[int, str] = {}
    statuses: dict[int, Counter[TaskStatus]] = {}
    overdue: Counter[int] = Counter()
    for item in items:
        for unit in item.units:
            names[unit.id] = unit.name
            statuses.setdefault(unit.id, Counter())[item.status] += 1
            overdue[unit.id] += item.overdue
    return sorted(
        (
            UnitSummary(
                unit_id=uid,
                unit=names[uid],
                items=sum(statuses[uid].values()),
                by_status={s: statuses[uid][s] for s in TaskStatus},
                overdue=overdue[uid],
            )
            for uid in names
        ),
        key=lambda s: (-s.overdue, s.unit),
    )


async def build_report(
    session: AsyncSession,
    ledger_code: str,
    kind: ReportKind,
    year: int,
    *,
    today: date,
    now: datetime,
) -> LedgerReport:
    ledger = await get_ledger(session, ledger_code)
    start, end, due = report_period(kind, year)
    if today < start:
        raise Unprocessable(f"the {year} period has not started yet", code="period_not_started")
    as_of = min(today, end)
    page = await list_items(
        session, ItemFilter(ledger_code=ledger_code), as_of=as_of, paging=ALL_ROWS
    )
    totals = Counter(item.status for item in page.items)
    return LedgerReport(
        ledger_code=ledger.code,
        ledger_name=ledger.name,
        kind=kind,
        title=f"{ledger.name}{year}年{REPORT_TITLES[kind]}",
        year=year,
        period_start=start,
        period_end=end,
        submission_due=due,
        as_of=as_of,
        generated_at=now,
        status_totals={s: totals[s] for s in TaskStatus},
        items=page.items,
        units=_unit_summaries(page.items),
        overdue=[i for i in page.items if i.overdue],
        escalations=await escalations(
            session, ledger_id=ledger.id, fired_from=start, fired_to=as_of
        ),
    )
