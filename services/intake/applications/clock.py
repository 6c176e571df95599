"""The working-day clock (计时): due dates, warnings and time spent, from stored facts alone.

Conventions (those of :class:`shared.calendar.WorkingCalendar`): a stage of ``n`` working days
that starts on day ``s`` is due on the n-th working day after ``s``; the working days spent
between two days are those in ``(start, end]``. Time paused for the customer is counted the same
way, and the due date moves by the working days paused.

A stage is *at risk* (预警) from the first day on which either the configured share of its limit
is used, or only one working day is left (that day being the due date itself); it is *overdue*
(超期) from the day after the due date.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from services.intake.applications.models import Application, ApplicationStage
from shared.calendar import Deadline, WorkingCalendar


@dataclass(frozen=True)
class Watch:
    """The running clock of a stage (or of the whole process when only a total is set)."""

    due: date
    at_risk_from: date
    provisional: bool


@dataclass(frozen=True)
class Spent:
    """Working days between two days, and the part of them the grid is answerable for."""

    elapsed: int
    paused: int
    grid: int
    provisional: bool


def deadline(calendar: WorkingCalendar, start: date, limit: int, paused: int) -> Deadline:
    """The due date of ``limit`` working days from ``start``, moved on by ``paused``;
    provisional when it was counted over a year whose arrangement is not published (预测)."""
    return calendar.add_working_days(start, limit + paused)


def stage_deadline(
    calendar: WorkingCalendar, application: Application, stage: ApplicationStage
) -> Deadline | None:
    """When ``stage`` is due (环节办结期限), from its start and the pauses ended in it; None
    before it starts, or when the process has a total limit only (:func:`process_deadline`)."""
    if stage.started_day is None or not application.staged or stage.limit_days is None:
        return None
    return deadline(calendar, stage.started_day, stage.limit_days, stage.paused_days)


def process_deadline(calendar: WorkingCalendar, application: Application) -> Deadline:
    """When the whole process is due (全流程期限), from acceptance and the pauses ended."""
    return deadline(
        calendar, application.accepted_day, application.total_limit_days, application.paused_days
    )


def watch(
    calendar: WorkingCalendar, start: date, limit: int, paused: int, at_risk_percent: int
) -> Watch:
    """The due date and first at-risk day of ``limit`` working days from ``start``."""
    if limit < 1:
        raise ValueError(f"a limit is at least one working day, got {limit}")
    due = deadline(calendar, start, limit, paused)
    used_share = -(-limit * at_risk_percent // 100)  # ceil(limit × percent / 100)
    by_share = calendar.add_working_days(start, used_share + paused).due
    last_day_left = calendar.add_working_days(start, limit + paused - 1).due + timedelta(days=1)
    return Watch(due.due, min(by_share, last_day_left), due.provisional)


def spent(
    calendar: WorkingCalendar, start: date, end: date, paused: int, paused_provisional: bool
) -> Spent:
    """Working days from ``start`` to ``end``, less ``paused`` (never below zero)."""
    elapsed = calendar.working_days_between(start, end)
    return Spent(
        elapsed.days,
        paused,
        max(0, elapsed.days - paused),
        elapsed.provisional or paused_provisional,
    )


def paused_days(calendar: WorkingCalendar, start: date, end: date) -> tuple[int, bool]:
    """Working days a pause from ``start`` to ``end`` took off the clock, and if provisional."""
    count = calendar.working_days_between(start, end)
    return count.days, count.provisional
