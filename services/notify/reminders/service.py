"""Ledger deadline reminders (任务到期提醒): N working days before, on the due day, weekly while
overdue.

The ledger service owns the items; notify reads its deadline feed over HTTP and queues one message
per (reminder, recipient, channel). "N days before" counts working days, so a holiday between
the reminder and the due date does not eat the warning; a due day or overdue week that falls on
a weekend or holiday moves to the next working day, so nobody is reminded on a holiday. The
messages go out in the staff window (working time), never at night.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from services.notify.delivery.windows import DeliveryHours
from services.notify.messages.models import Channel, DeliveryWindow
from services.notify.messages.service import NewMessage, unresolved_message
from services.notify.reminders.outcome import ReminderOutcome, enqueue_reminders
from services.notify.templates.service import templates
from shared.calendar import WorkingCalendar
from shared.http import ServiceClient

LEDGER_REMINDER = "ledger_deadline"
# Reminder days that fall in a long holiday (Spring Festival is 8-9 days) still reach the feed.
_FEED_MARGIN_DAYS = 14


class ReminderRun(ReminderOutcome):
    as_of: date
    working_day: bool


@dataclass(frozen=True)
class Trigger:
    """One reminder of an item: its name (for the dedup key) and the day it is meant for."""

    name: str
    day: date


def triggers(
    calendar: WorkingCalendar, due: date, days_before: int, until: date
) -> Iterator[Trigger]:
    """Every reminder of an item due on ``due`` meant for a day up to ``until``; the first
    ``days_before`` working days before the due day."""
    if days_before > 0:
        yield Trigger(f"before-{days_before}d", calendar.working_days_before(due, days_before))
    yield Trigger("due-day", due)
    week = 1
    while due + timedelta(weeks=week) <= until:
        yield Trigger(f"overdue-week-{week}", due + timedelta(weeks=week))
        week += 1


def trigger_firing(
    calendar: WorkingCalendar, due: date, days_before: int, today: date
) -> Trigger | None:
    """The reminder to send on working day ``today``: one whose day moves to today. When a
    holiday folds several onto one day (the day before and the due day), the latest speaks."""
    firing = [
        t
        for t in triggers(calendar, due, days_before, today)
        if t.day <= today and calendar.next_workday(t.day) == today
    ]
    return max(firing, key=lambda t: t.day, default=None)


def _message_for(
    entry: dict[str, Any],
    trigger: Trigger,
    unit: dict[str, Any],
    head: dict[str, Any] | None,
    window: DeliveryWindow,
) -> NewMessage:
    key = f"{LEDGER_REMINDER}:{entry['item_id']}:{trigger.name}"
    # A unit without a head is reminded through its nearest ancestor's (``heads_of``); the
    # message says for which unit, and the key keeps one message per unit it speaks for.
    reached_unit = unit.get("heads_of") or unit["name"]
    data = {**entry, "unit": unit["name"], "reached_unit": reached_unit}
    text = templates().render(LEDGER_REMINDER, Channel.email, data)
    if reached_unit != unit["name"]:
        key = f"{key}:unit-{unit['id']}"
    if head is None:
        return unresolved_message(
            unit["name"],
            "department head",
            dedup_key=f"{key}:unit-{unit['id']}:unresolved",
            kind=LEDGER_REMINDER,
            text=text,
            window=window,
        )
    return NewMessage(
        dedup_key=f"{key}:{head['email']}:email",
        kind=LEDGER_REMINDER,
        channel=Channel.email,
        recipient=head["email"],
        subject=text.subject,
        body=text.body,
        window=window,
    )


async def queue_ledger_reminders(
    session: AsyncSession,
    client: ServiceClient,
    calendar: WorkingCalendar,
    *,
    today: date,
    days_before: int,
    now: datetime,
    hours: DeliveryHours | None = None,
) -> ReminderRun:
    """Read ledger's feed and queue today's reminders; running twice queues nothing new."""
    if not calendar.is_workday(today):
        return ReminderRun(as_of=today, working_day=False)
    feed = await client.get_json(
        "ledger",
        "/feed/deadlines",
        params={"as_of": today.isoformat(), "within_days": days_before + _FEED_MARGIN_DAYS},
    )
    window = hours.staff_window if hours else DeliveryWindow.working_hours
    messages: list[NewMessage] = []
    for entry in feed["entries"]:
        due = date.fromisoformat(entry["due_date"])
        trigger = trigger_firing(calendar, due, days_before, today)
        if trigger is None:
            continue
        for unit in entry["units"]:
            heads = unit["heads"] or [None]
            messages.extend(_message_for(entry, trigger, unit, head, window) for head in heads)
    outcome = await enqueue_reminders(session, messages, hours=hours, now=now)
    return ReminderRun(as_of=today, working_day=True, **outcome.model_dump())
