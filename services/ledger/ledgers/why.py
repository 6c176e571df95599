"""Why a ledger item is overdue, due soon or on time (事项期限说明).

The item's figures are the ones :func:`.items.get_item_public` derives (逾期天数 in calendar
days, 临期 within :data:`.state.DEFAULT_DUE_SOON_DAYS` days); the explanation reads the 完成时间
text as the parser did and lists each day between the due date and the day asked about, with the
working days among them counted by the same :class:`shared.calendar.WorkingCalendar` the
intake clock uses (its package data: ledger loads no notices of its own).
"""

from __future__ import annotations

import functools
from datetime import date
from typing import Literal

from pydantic import BaseModel
from sqlmodel.ext.asyncio.session import AsyncSession

from services.ledger.ledgers.items import get_item_public
from services.ledger.ledgers.models import ItemPublic
from services.ledger.ledgers.parsing import DueKind
from services.ledger.ledgers.service import get_ledger
from services.ledger.ledgers.state import DEFAULT_DUE_SOON_DAYS
from services.ledger.updates.models import FINISHED_STATUSES
from shared.calendar import CalendarRangeError, WorkingCalendar, package_year_range
from shared.deadline_why import (
    CalendarYearUsed,
    SpanWhy,
    calendar_years_used,
    explain_span,
    span_lines,
)

__all__ = ["ItemWhy", "PlanUsed", "explain_item", "item_why", "plan_of"]

MAX_LISTED_DAYS = 2200
"""About six years: longer spans are counted but not listed day by day."""
ItemFigure = Literal["overdue", "due_soon", "on_time", "finished", "no_date"]


class PlanUsed(BaseModel):
    """The plan whose ledger the item belongs to (任务台账出处)."""

    code: str
    name: str
    document_no: str
    source: str


class ItemWhy(BaseModel):
    """The answer to "why is this item overdue / due soon" (事项期限说明)."""

    item_id: int
    ledger_code: str
    plan: PlanUsed
    seq: int
    due_text: str
    due_kind: DueKind
    due_date: date | None
    """The last day of the 完成时间 as read: "2021年6月底前" is 2021-06-30, itself still in time."""
    as_of: date
    figure: ItemFigure
    calendar_days: int | None
    """Days overdue (逾期天数, as the item shows them) or days left, in calendar days."""
    working_days: int | None
    """The working days among them."""
    due_soon_days: int
    span: SpanWhy | None
    """Overdue: from the due date to ``as_of``; otherwise from ``as_of`` to the due date."""
    calendar: list[CalendarYearUsed]
    provisional: bool
    lines: list[str]


@functools.cache
def _calendar(last_year: int) -> WorkingCalendar:
    return WorkingCalendar.build(first_year=package_year_range()[0], last_year=last_year)


def explain_item(item: ItemPublic, plan: PlanUsed, as_of: date) -> ItemWhy:
    """The explanation of an item already shaped for ``as_of``."""
    number = f"（{plan.document_no}）" if plan.document_no else ""
    lines = [f"完成时间：“{item.due_text}”。"]
    span: SpanWhy | None = None
    figure: ItemFigure
    calendar_days: int | None = None
    due = item.due_date
    if item.due_kind is not DueKind.date or due is None:
        figure = "no_date"
        kind = "持续推进" if item.due_kind is DueKind.ongoing else "已实现，持续巩固提升"
        lines.append(f"该事项为“{kind}”，没有具体完成日期，不计逾期或临期。")
    else:
        lines.append(f"读作{due.isoformat()}：当日仍在期限内，次日起为逾期。")
        if item.status in FINISHED_STATUSES:
            figure = "finished"
            lines.append(f"当前状态为“{item.status_label}”，已完成的事项不计逾期。")
        elif item.overdue:
            figure = "overdue"
            calendar_days = item.days_overdue
            span = _span(due, as_of)
            lines.append(
                f"截至{as_of.isoformat()}已逾期{calendar_days}天（自然日）"
                + (f"，其中工作日{span.working_days}天。" if span else "。")
            )
        else:
            calendar_days = (due - as_of).days
            figure = "due_soon" if item.due_soon else "on_time"
            span = _span(as_of, due)
            soon = (
                f"，在完成时间前{DEFAULT_DUE_SOON_DAYS}天内，列为临期"
                if item.due_soon
                else f"，尚未进入完成时间前{DEFAULT_DUE_SOON_DAYS}天的临期范围"
            )
            lines.append(
                f"截至{as_of.isoformat()}距完成时间还有{calendar_days}天（自然日）"
                + (f"，其中工作日{span.working_days}天" if span else "")
                + soon
                + "。"
            )
    years: set[int] = set()
    if span is not None:
        lines += span_lines(span)
        years = {span.from_day.year, span.to_day.year}
    used = calendar_years_used(_calendar(max(years)), years) if years else []
    if used:
        lines.append("工作日历：" + "；".join(f"{y.year}年：{y.source}" for y in used) + "。")
    lines.append(f"依据：{plan.name}{number}" + (f"，{plan.source}" if plan.source else "") + "。")
    provisional = span is not None and span.provisional
    if provisional:
        lines.append("注意：部分日期所在年份的放假安排尚未公布，工作日数为暂定。")
    return ItemWhy(
        item_id=item.id,
        ledger_code=item.ledger_code,
        plan=plan,
        seq=item.seq,
        due_text=item.due_text,
        due_kind=item.due_kind,
        due_date=due,
        as_of=as_of,
        figure=figure,
        calendar_days=calendar_days,
        working_days=span.working_days if span is not None else None,
        due_soon_days=DEFAULT_DUE_SOON_DAYS,
        span=span,
        calendar=used,
        provisional=provisional,
        lines=lines,
    )


def _span(start: date, end: date) -> SpanWhy | None:
    try:
        calendar = _calendar(max(start.year, end.year) + 1)
        return explain_span(calendar, start, end, max_listed=MAX_LISTED_DAYS)
    except CalendarRangeError:
        return None  # before the package's first year: the calendar days still stand


async def item_why(session: AsyncSession, item_id: int, *, as_of: date) -> ItemWhy:
    """Why the item stands where it does on ``as_of`` (a Beijing date)."""
    item = await get_item_public(session, item_id, as_of=as_of)
    return explain_item(item, await plan_of(session, item.ledger_code), as_of)


async def plan_of(session: AsyncSession, ledger_code: str) -> PlanUsed:
    ledger = await get_ledger(session, ledger_code)
    return PlanUsed(
        code=ledger.code, name=ledger.name, document_no=ledger.document_no, source=ledger.source
    )
