"""When a message may go out (发送时段): quiet hours (免打扰) and staff working time, Beijing time.

A message is queued with the earliest moment its window is open as ``next_attempt_at``, and the
worker claims only messages whose window is open now, so a message that waited out a worker outage
still does not go out at night.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta

from services.notify.messages.models import DeliveryWindow
from services.notify.settings import NotifySettings
from shared.calendar import BEIJING, WorkingCalendar


@dataclass(frozen=True)
class DeliveryHours:
    quiet_start: time
    quiet_end: time
    working_start: time
    working_end: time
    calendar: WorkingCalendar
    # The window of reminders and warnings to staff (working time unless configured otherwise).
    staff_window: DeliveryWindow = DeliveryWindow.working_hours

    @classmethod
    def from_settings(cls, settings: NotifySettings, calendar: WorkingCalendar) -> DeliveryHours:
        return cls(
            settings.quiet_start,
            settings.quiet_end,
            settings.working_start,
            settings.working_end,
            calendar,
            settings.staff_window,
        )

    def _quiet(self, t: time) -> bool:
        if self.quiet_start == self.quiet_end:
            return False
        if self.quiet_start < self.quiet_end:
            return self.quiet_start <= t < self.quiet_end
        return t >= self.quiet_start or t < self.quiet_end

    def _working(self, local: datetime) -> bool:
        return (
            self.calendar.is_workday(local.date())
            and self.working_start <= local.time() < self.working_end
        )

    def is_open(self, window: DeliveryWindow, moment: datetime) -> bool:
        local = moment.astimezone(BEIJING)
        if window is DeliveryWindow.waking_hours:
            return not self._quiet(local.time())
        if window is DeliveryWindow.working_hours:
            return self._working(local)
        return True

    def open_windows(self, moment: datetime) -> list[DeliveryWindow]:
        return [w for w in DeliveryWindow if self.is_open(w, moment)]

    def quiet_end_after(self, moment: datetime) -> datetime:
        """The end of the quiet hours in force at ``moment`` or, outside them, of the next
        ones (UTC); ``moment`` itself when there are no quiet hours."""
        if self.quiet_start == self.quiet_end:
            return moment
        local = moment.astimezone(BEIJING)
        end = datetime.combine(local.date(), self.quiet_end, tzinfo=BEIJING)
        if end <= local:
            end += timedelta(days=1)
        return end.astimezone(UTC)

    def earliest(self, window: DeliveryWindow, moment: datetime) -> datetime:
        """The first moment at or after ``moment`` when ``window`` is open (UTC)."""
        if self.is_open(window, moment):
            return moment
        local = moment.astimezone(BEIJING)
        if window is DeliveryWindow.waking_hours:
            end = datetime.combine(local.date(), self.quiet_end, tzinfo=BEIJING)
            if end <= local:
                end += timedelta(days=1)
            return end.astimezone(UTC)
        day = local.date()
        if not (self.calendar.is_workday(day) and local.time() < self.working_start):
            day = self.calendar.next_workday(day + timedelta(days=1))
        return datetime.combine(day, self.working_start, tzinfo=BEIJING).astimezone(UTC)
