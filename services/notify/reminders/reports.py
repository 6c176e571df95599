"""Report reminders (报送提醒): the half-year report is due 25 June, the annual one 4 January
(每年6月25日前报送上半年情况，次年1月4日前报送上一年度全年情况).

Department heads (部门负责人) in ledger's directory are reminded once per report, on the first
of the last ``days_before`` working days before the deadline; the dedup key makes later days
queue nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from services.notify.delivery.windows import DeliveryHours
from services.notify.messages.models import Channel, DeliveryWindow, MessageState
from services.notify.messages.service import NewMessage
from services.notify.reminders.outcome import ReminderOutcome, enqueue_reminders
from services.notify.templates.service import templates
from shared.calendar import WorkingCalendar
from shared.http import ServiceClient

REPORT_REMINDER = "report_reminder"


@dataclass(frozen=True)
class ReportDeadline:
    key: str  # e.g. 2025-half_year
    due: date
    period_label: str
    report_name: str


def deadlines_near(
    calendar: WorkingCalendar, today: date, days_before: int
) -> list[ReportDeadline]:
    """The report deadlines at most ``days_before`` working days after ``today`` (or today)."""
    candidates = [
        ReportDeadline(
            f"{today.year}-half_year",
            date(today.year, 6, 25),
            f"{today.year}年上半年情况",
            "半年报告",
        ),
        ReportDeadline(
            f"{today.year - 1}-annual",
            date(today.year, 1, 4),
            f"{today.year - 1}年全年情况",
            "年度报告",
        ),
        ReportDeadline(
            f"{today.year}-annual",
            date(today.year + 1, 1, 4),
            f"{today.year}年全年情况",
            "年度报告",
        ),
    ]
    return [
        d for d in candidates if calendar.working_days_before(d.due, days_before) <= today <= d.due
    ]


class ReportReminderRun(ReminderOutcome):
    as_of: date
    working_day: bool
    reports: list[str]


def _reminder(
    deadline: ReportDeadline, head: dict[str, Any] | None, window: DeliveryWindow
) -> NewMessage:
    data = {
        "recipient_name": head["display_name"] if head else "各责任单位负责人",
        "due_date": deadline.due.isoformat(),
        "period_label": deadline.period_label,
        "report_name": deadline.report_name,
    }
    text = templates().render(REPORT_REMINDER, Channel.email, data)
    key = f"{REPORT_REMINDER}:{deadline.key}"
    message = NewMessage(
        dedup_key=f"{key}:unresolved",
        kind=REPORT_REMINDER,
        channel=Channel.email,
        recipient="role:dept_head",
        subject=text.subject,
        body=text.body,
        window=window,
        state=MessageState.dead,
        last_error="no active department head in the directory",
    )
    if head is None:
        return message
    if not head.get("email"):
        return message.model_copy(
            update={
                "dedup_key": f"{key}:user-{head['username']}:unresolved",
                "recipient": f"user:{head['username']}",
                "last_error": f"department head '{head['username']}' has no email",
            }
        )
    return message.model_copy(
        update={
            "dedup_key": f"{key}:{head['email']}:email",
            "recipient": head["email"],
            "state": MessageState.queued,
            "last_error": None,
        }
    )


async def queue_report_reminders(
    session: AsyncSession,
    client: ServiceClient,
    calendar: WorkingCalendar,
    *,
    today: date,
    days_before: int,
    now: datetime,
    hours: DeliveryHours | None = None,
) -> ReportReminderRun:
    """Queue reminders of the reports due soon; running again queues nothing new."""
    working_day = calendar.is_workday(today)
    near = deadlines_near(calendar, today, days_before) if working_day else []
    window = hours.staff_window if hours else DeliveryWindow.working_hours
    messages: list[NewMessage] = []
    if near:
        heads: list[dict[str, Any] | None] = await client.get_json(
            "ledger", "/directory/contacts", params={"role": "dept_head"}
        )
        for deadline in near:
            messages.extend(_reminder(deadline, head, window) for head in heads or [None])
    outcome = await enqueue_reminders(session, messages, hours=hours, now=now)
    return ReportReminderRun(
        as_of=today, working_day=working_day, reports=[d.key for d in near], **outcome.model_dump()
    )
