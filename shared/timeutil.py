"""Beijing time (北京时间): store UTC, count working days and show times in Asia/Shanghai."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated

from pydantic import PlainSerializer

from shared.calendar import BEIJING, beijing_date

__all__ = [
    "BEIJING",
    "BeijingTime",
    "beijing_date",
    "chinese_date",
    "end_of_beijing_day",
    "format_beijing",
]


def end_of_beijing_day(day: date) -> datetime:
    """The first UTC moment after ``day`` ends in Beijing: records before it belong to the day."""
    return datetime.combine(day + timedelta(days=1), time.min, tzinfo=BEIJING).astimezone(UTC)


def chinese_date(day: date) -> str:
    """A date as people read it in a message: 2026-10-09 → 2026年10月9日."""
    return f"{day.year}年{day.month}月{day.day}日"


def format_beijing(moment: datetime | None) -> str:
    """A moment as Beijing wall-clock text for people and spreadsheets ("" for none)."""
    return moment.astimezone(BEIJING).strftime("%Y-%m-%d %H:%M") if moment else ""


def _as_beijing(moment: datetime) -> str:
    return moment.astimezone(BEIJING).isoformat()


# A moment in an API response, shown in Beijing time with its offset (2025-10-09T09:30:00+08:00).
BeijingTime = Annotated[datetime, PlainSerializer(_as_beijing, return_type=str, when_used="json")]
